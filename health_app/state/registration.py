"""Patient registration in three steps, and the doctor application."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from health_app import routes
from health_app.config import get_settings
from health_app.page_loads import ends_page_load
from health_app.services.accounts import registration
from health_app.services.catalogue import consultation_types, languages
from health_app.state.client import toast_success
from health_app.state.email_links import ResendState
from health_app.state.forms import chosen, form_text
from health_app.state.handlers import Events, FormMixin, public
from health_app.state.unit_of_work import utcnow

_PATIENT_FIELDS = [f.name for f in dataclasses.fields(registration.PatientRegistration)]


def _step_fields(step: int) -> tuple[str, ...]:
    fields = registration.PATIENT_STEPS[step - 1]
    return (*fields, "email_confirm") if "email" in fields else fields


class RegisterState(FormMixin, rx.State):
    step: int = 1
    # What the person typed so far (shown back when they return to a step); no password.
    draft: dict[str, str] = {}
    _password: str = ""

    @rx.var
    def province_default(self) -> str:
        return self.draft.get("province") or "ON"

    @rx.event
    @ends_page_load
    def start(self) -> None:
        self.step, self.draft, self._password = 1, {}, ""
        self._reset_form()

    @rx.event
    def back(self) -> None:
        self._reset_form()
        self.step = max(1, self.step - 1)

    def _form(self) -> registration.PatientRegistration:
        data = {k: self.draft.get(k, "") for k in _PATIENT_FIELDS}
        data["password"] = self._password
        return registration.PatientRegistration(**data)

    @rx.event
    @public
    async def submit_step(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        # Only this step's fields: the browser may also send stale values of earlier steps.
        for key in _step_fields(self.step):
            if key == "password":
                self._password = form_text(form, key)
            else:
                self.draft[key] = form_text(form, key)
        errors = registration.check_patient_step(
            self._form(), step=self.step, settings=get_settings(), now=utcnow()
        )
        if errors:
            self.errors, self.form_error = errors, "Please correct the highlighted fields."
            self.step = min(
                i + 1 for i in range(self.step) if set(_step_fields(i + 1)) & set(errors)
            )
            return
        if self.step < len(registration.PATIENT_STEPS):
            self.step += 1
            return
        self.busy = True
        yield
        form_sent = self._form()
        await self._call(
            registration.register_patient, form=form_sent, client=self.router.session.client_ip
        )
        self.busy = False
        (await self.get_state(ResendState)).address = form_sent.email.strip().lower()
        self.step, self.draft, self._password = 1, {}, ""
        yield rx.redirect(f"{routes.REGISTER_DONE}?who=patient")
        yield toast_success("Almost done: check your email to activate your account.")


class ApplyState(FormMixin, rx.State):
    @rx.event
    @ends_page_load
    def start(self) -> None:
        self._reset_form()

    @rx.event
    @public
    async def submit(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        application = registration.DoctorApplication(
            **{
                f.name: form_text(form, f.name)
                for f in dataclasses.fields(registration.DoctorApplication)
                if f.name not in {"consultation_types", "languages"}
            },
            consultation_types=chosen(form, "ctype_", consultation_types()),
            languages=chosen(form, "lang_", languages()),
        )
        self.busy = True
        yield
        await self._call(
            registration.apply_doctor, form=application, client=self.router.session.client_ip
        )
        self.busy = False
        (await self.get_state(ResendState)).address = application.email.strip().lower()
        yield rx.redirect(f"{routes.REGISTER_DONE}?who=doctor")
        yield toast_success("Application received: check your email to confirm it.")
