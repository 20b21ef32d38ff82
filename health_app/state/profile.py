"""The signed-in person's profile page: details, notifications, email and password."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from health_app.services import profiles, visit_files
from health_app.services.profiles import ProfileUpdate
from health_app.services.storage import get_storage
from health_app.services.visit_files import PHOTO_MAX_BYTES
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, chosen, form_text
from health_app.state.links import photo_url

PHOTO_UPLOAD_ID = "doctor-photo"

_UPDATE_FIELDS = [
    f.name
    for f in dataclasses.fields(ProfileUpdate)
    if f.name not in {"consultation_types", "languages"}
]


class ProfileState(FormMixin, rx.State):
    loaded: bool = False
    role: str = ""
    email: str = ""
    pending_email: str = ""
    # Current values as text, for the form's defaults.
    values: dict[str, str] = {}
    consultation_types: list[str] = []
    languages: list[str] = []
    notify_email: bool = True
    notify_sms: bool = False
    # Patients only: the pharmacy that receives prescriptions ("" while none is chosen).
    pharmacy: dict[str, str] = {}
    # Doctors only: their public photo ("" if none).
    photo: str = ""

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None:
            return False
        view = await runner.call(lambda s, cfg, now: profiles.get_profile(s, actor=actor, now=now))
        self.role, self.email, self.pending_email = view.role, view.email, view.pending_email
        self.values = {
            k: "" if getattr(view, k, None) is None else str(getattr(view, k))
            for k in _UPDATE_FIELDS
        }
        self.consultation_types, self.languages = (
            list(view.consultation_types),
            list(view.languages),
        )
        self.notify_email, self.notify_sms = view.notify_email, view.notify_sms
        chosen_pharmacy = (
            await runner.call(lambda s, cfg, now: profiles.get_pharmacy(s, actor=actor))
            if view.role == "patient"
            else None
        )
        self.pharmacy = {
            "pharmacy_name": chosen_pharmacy.name if chosen_pharmacy else "",
            "pharmacy_address": chosen_pharmacy.address if chosen_pharmacy else "",
            "pharmacy_phone": chosen_pharmacy.phone if chosen_pharmacy else "",
        }
        self.photo = photo_url(view.photo_blob)
        self.loaded = True
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self._reset_form()
        self.loaded = False
        if not await self._refresh():
            return login_redirect()

    @rx.event
    async def save(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        update = ProfileUpdate(
            **{
                k: form_text(form, k) if k in form else self.values.get(k, "")
                for k in _UPDATE_FIELDS
            },
            consultation_types=chosen(form, "ctype_"),
            languages=chosen(form, "lang_"),
        )
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.update_profile(
                    s, actor=actor, form=update, settings=cfg, now=now
                )
            )
        )
        if ok:
            await self._refresh()
            return rx.toast.success("Your profile was saved.")

    @rx.event
    async def save_notifications(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        email_on, sms_on = bool(form.get("notify_email")), bool(form.get("notify_sms"))
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.set_notification_preferences(
                    s, actor=actor, email_on=email_on, sms_on=sms_on, now=now
                )
            )
        )
        if ok:
            await self._refresh()
            return rx.toast.success("Notification preferences saved.")

    @rx.event
    async def save_pharmacy(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        name, address, phone = (
            form_text(form, "pharmacy_name"),
            form_text(form, "pharmacy_address"),
            form_text(form, "pharmacy_phone"),
        )
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.set_pharmacy(
                    s, actor=actor, name=name, address=address, phone=phone, now=now
                )
            )
        )
        if ok:
            await self._refresh()
            if not name:
                return rx.toast.success("Your pharmacy was removed.")
            return rx.toast.success("Your pharmacy was saved.")

    @rx.event
    async def upload_photo(self, files: list[rx.UploadFile]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        if not files:
            self._reset_form()
            self.errors = {"photo": "Choose a photo first."}
            return None
        # A photo is small (<= 10 MB, checked by the service): read it whole.
        data = await files[0].read(PHOTO_MAX_BYTES + 1)
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: visit_files.set_doctor_photo(
                    s, actor=actor, data=data, settings=cfg, storage=get_storage(cfg), now=now
                )
            )
        )
        if ok:
            await self._refresh()
            return [rx.clear_selected_files(PHOTO_UPLOAD_ID), rx.toast.success("Photo saved.")]
        return None

    @rx.event
    async def remove_photo(self):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: visit_files.remove_doctor_photo(
                    s, actor=actor, storage=get_storage(cfg), now=now
                )
            )
        )
        if ok:
            await self._refresh()
            return rx.toast.success("Photo removed.")
        return None

    @rx.event
    async def cancel_email_change(self):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.cancel_email_change(s, actor=actor, now=now)
            )
        )
        if ok:
            await self._refresh()
            return rx.toast.success("The pending email change was cancelled.")


class SecurityState(FormMixin, rx.State):
    """Password and email changes, each needing the current password."""

    @rx.event
    async def change_password(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        current, new, confirm = (
            form_text(form, k) for k in ("current_password", "new_password", "new_password_confirm")
        )
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.change_password(
                    s, actor=actor, current=current, new=new, new_confirm=confirm, now=now
                )
            )
        )
        if ok:
            return [
                rx.set_value("current_password", ""),
                rx.set_value("new_password", ""),
                rx.set_value("new_password_confirm", ""),
                rx.toast.success("Password changed. Your other sessions were logged out."),
            ]

    @rx.event
    async def change_email(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        new_email, password = form_text(form, "new_email"), form_text(form, "email_password")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: profiles.request_email_change(
                    s, actor=actor, new_email=new_email, password=password, settings=cfg, now=now
                )
            )
        )
        if ok:
            profile = await self.get_state(ProfileState)
            await profile._refresh()
            return [
                rx.set_value("email_password", ""),
                rx.toast.success("Check the new address for a confirmation link."),
            ]
