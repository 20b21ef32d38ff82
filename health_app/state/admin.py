"""Admin pages: doctor applications and user accounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import reflex as rx
from sqlmodel import Session

from health_app.config import Settings
from health_app.services import admin
from health_app.services.catalogue import consultation_types, languages
from health_app.services.views import Actor, Page
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text


@dataclass(frozen=True)
class ApplicationRow:
    user_id: int
    name: str
    email: str
    email_confirmed: bool
    specialty: str
    qualifications: str
    clinic: str
    languages: str
    consultation_types: str
    applied_on: str
    status: str
    rejection_reason: str


@dataclass(frozen=True)
class UserRow:
    user_id: int
    name: str
    email: str
    role: str
    active: bool
    email_confirmed: bool
    joined_on: str


class PagedListMixin(FormMixin, mixin=True):
    """A paginated admin list. `_refresh` loads the current page; False means signed out.

    Any signed-in person may call these handlers: the service decides and audits a refusal.
    """

    page: int = 1
    pages: int = 1
    total: int = 0

    async def _refresh(self) -> bool:
        raise NotImplementedError

    async def _reload(self, reason: str = "expired"):  # type: ignore[no-untyped-def]
        ok, shown = await self._attempt(self._refresh)
        if ok and not shown:
            return login_redirect(reason)
        return None

    async def _show_page(
        self,
        fetch: Callable[[Session, Actor, int, datetime], Page[Any]],
        to_row: Callable[[Any], Any],
    ) -> bool:
        """Load the current page through a service and show it as `rows`."""
        actor = await guard(self)
        if actor is None:
            return False
        page = self.page
        result = await runner.call(lambda s, cfg, now: fetch(s, actor, page, now))
        self.rows = [to_row(v) for v in result.items]  # type: ignore[attr-defined]
        self.total, self.pages = result.total, result.pages
        return True

    async def _first_page(self):  # type: ignore[no-untyped-def]
        """on_load: start again at page 1, sending a signed-out visitor to log in."""
        self.page, self.rows = 1, []  # type: ignore[attr-defined]
        return await self._reload("login")

    async def _act(self, work: Callable[[Session, Settings, datetime, Actor], object], done: str):  # type: ignore[no-untyped-def]
        """Run one row action through the services, then show the page again and confirm."""
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        ok, _ = await self._attempt(
            lambda: runner.call(lambda s, cfg, now: work(s, cfg, now, actor))
        )
        if ok:
            await self._attempt(self._refresh)
            return rx.toast.success(done)
        return None

    @rx.event
    async def go_to_page(self, page: int):  # type: ignore[no-untyped-def]
        self.page = max(1, min(int(page), self.pages))
        return await self._reload()


class ApplicationsState(PagedListMixin, rx.State):
    status: str = "pending"
    rows: list[ApplicationRow] = []
    rejecting_id: int = 0

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None:
            return False
        status, page = self.status, self.page
        result = await runner.call(
            lambda s, cfg, now: admin.list_doctor_applications(
                s, actor=actor, status=status, page=page, now=now
            )
        )
        ct, lg = consultation_types(), languages()
        self.rows = [
            ApplicationRow(
                user_id=v.user_id,
                name=v.name,
                email=v.email,
                email_confirmed=v.email_confirmed,
                specialty=v.specialty,
                qualifications=v.qualifications,
                clinic=f"{v.clinic_name}, {v.clinic_city}",
                languages=", ".join(lg.get(c, c) for c in v.languages),
                consultation_types=", ".join(ct.get(c, c) for c in v.consultation_types),
                applied_on=v.applied_at.strftime("%Y-%m-%d"),
                status=v.status,
                rejection_reason=v.rejection_reason,
            )
            for v in result.items
        ]
        self.total, self.pages = result.total, result.pages
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self.page, self.rejecting_id, self.rows = 1, 0, []
        return await self._reload("login")

    @rx.event
    async def show_status(self, status: str):  # type: ignore[no-untyped-def]
        self.status, self.page = status, 1
        return await self._reload()

    @rx.event
    async def approve(self, doctor_id: int):  # type: ignore[no-untyped-def]
        target = int(doctor_id)
        return await self._act(
            lambda s, cfg, now, actor: admin.approve_doctor(
                s, actor=actor, doctor_id=target, settings=cfg, now=now
            ),
            "Approved: the doctor can log in now and was told by email.",
        )

    @rx.event
    def open_reject(self, doctor_id: int) -> None:
        self._reset_form()
        self.rejecting_id = int(doctor_id)

    @rx.event
    def close_reject(self) -> None:
        self.rejecting_id = 0

    @rx.event
    async def reject(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        doctor_id, reason = self.rejecting_id, form_text(form, "reason")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: admin.reject_doctor(
                    s, actor=actor, doctor_id=doctor_id, reason=reason, now=now
                )
            )
        )
        if ok:
            self.rejecting_id = 0
            await self._refresh()
            return rx.toast.success("Rejected: the applicant was told the reason by email.")


class UsersState(PagedListMixin, rx.State):
    query: str = ""
    role_filter: str = ""
    rows: list[UserRow] = []

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None:
            return False
        query, role, page = self.query, self.role_filter, self.page
        result = await runner.call(
            lambda s, cfg, now: admin.list_users(
                s, actor=actor, query=query, role=role, page=page, now=now
            )
        )
        self.rows = [
            UserRow(
                user_id=v.user_id,
                name=v.name,
                email=v.email,
                role=v.role,
                active=v.active,
                email_confirmed=v.email_confirmed,
                joined_on=v.created_at.strftime("%Y-%m-%d"),
            )
            for v in result.items
        ]
        self.total, self.pages = result.total, result.pages
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self.page, self.rows = 1, []
        return await self._reload("login")

    @rx.event
    async def search(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        self.query, self.role_filter, self.page = (
            form_text(form, "query"),
            form_text(form, "role"),
            1,
        )
        return await self._reload()

    @rx.event
    async def set_active(self, user_id: int, active: bool):  # type: ignore[no-untyped-def]
        target, on = int(user_id), bool(active)
        return await self._act(
            lambda s, cfg, now, actor: admin.set_user_active(
                s, actor=actor, user_id=target, active=on, now=now
            ),
            "Account reactivated." if on else "Account deactivated; its sessions were ended.",
        )
