"""Admin pages: doctor applications and user accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services.accounts import admin
from health_app.services.catalogue import consultation_types, languages
from health_app.services.views import DoctorApplicationView, UserAdminView
from health_app.state.client import toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, signed_in
from health_app.state.paged import AdminListMixin
from health_app.state.timefmt import clinic_zone, on_day


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
    licence_number: str
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


def _application_row(v: DoctorApplicationView) -> ApplicationRow:
    ct, lg = consultation_types(), languages()
    return ApplicationRow(
        user_id=v.user_id,
        name=v.name,
        email=v.email,
        email_confirmed=v.email_confirmed,
        specialty=v.specialty,
        qualifications=v.qualifications,
        clinic=f"{v.clinic_name}, {v.clinic_city}",
        languages=", ".join(lg.get(c, c) for c in v.languages),
        consultation_types=", ".join(ct.get(c, c) for c in v.consultation_types),
        applied_on=on_day(v.applied_at, clinic_zone()),
        licence_number=v.licence_number or "not given",
        status=v.status,
        rejection_reason=v.rejection_reason,
    )


def _user_row(v: UserAdminView) -> UserRow:
    return UserRow(
        user_id=v.user_id,
        name=v.name,
        email=v.email,
        role=v.role,
        active=v.active,
        email_confirmed=v.email_confirmed,
        joined_on=on_day(v.created_at, clinic_zone()),
    )


class ApplicationsState(AdminListMixin, rx.State):
    status: str = "pending"
    rows: list[ApplicationRow] = []
    rejecting_id: int = 0
    approving_id: int = 0

    async def _refresh(self) -> None:
        result = await self._call(
            admin.list_doctor_applications, status=self.status, page=self.page
        )
        self.rows = self._paged(result, _application_row)

    def _start(self) -> None:
        self.rows, self.rejecting_id, self.approving_id = [], 0, 0

    @rx.event
    @signed_in()
    async def show_status(self, status: str) -> None:
        self.status, self.page = status, 1
        await self._refresh()

    @rx.event
    @signed_in()
    async def approve(self, doctor_id: int) -> Events:
        await self._call(admin.approve_doctor, doctor_id=int(doctor_id))
        self.approving_id = 0
        await self._refresh()
        return toast_success("Approved: the doctor can log in now and was told by email.")

    @rx.event
    def open_approve(self, doctor_id: int) -> None:
        self._reset_form()
        self.rejecting_id, self.approving_id = 0, int(doctor_id)

    @rx.event
    def close_approve(self) -> None:
        self.approving_id = 0

    @rx.event
    def open_reject(self, doctor_id: int) -> None:
        self._reset_form()
        self.approving_id, self.rejecting_id = 0, int(doctor_id)

    @rx.event
    def close_reject(self) -> None:
        self.rejecting_id = 0

    @rx.event
    @signed_in()
    async def reject(self, form: dict[str, Any]) -> Events:
        await self._call(
            admin.reject_doctor, doctor_id=self.rejecting_id, reason=form_text(form, "reason")
        )
        self.rejecting_id = 0
        await self._refresh()
        return toast_success("Rejected: the applicant was told the reason by email.")


class UsersState(AdminListMixin, rx.State):
    query: str = ""
    role_filter: str = ""
    rows: list[UserRow] = []

    async def _refresh(self) -> None:
        result = await self._call(
            admin.list_users, query=self.query, role=self.role_filter, page=self.page
        )
        self.rows = self._paged(result, _user_row)

    def _start(self) -> None:
        self.rows = []

    @rx.event
    @signed_in()
    async def search(self, form: dict[str, Any]) -> None:
        self.query, self.role_filter = form_text(form, "query"), form_text(form, "role")
        self.page = 1
        await self._refresh()

    @rx.event
    @signed_in()
    async def set_active(self, user_id: int, active: bool) -> Events:
        on = bool(active)
        await self._call(admin.set_user_active, user_id=int(user_id), active=on)
        await self._refresh()
        return toast_success(
            "Account reactivated." if on else "Account deactivated; its sessions were ended."
        )
