"""Patient registration in three steps, and the doctor application."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from health_app import routes
from health_app.services import accounts
from health_app.state import runner
from health_app.state.forms import FormMixin, chosen, form_text

_PATIENT_FIELDS = [f.name for f in dataclasses.fields(accounts.PatientRegistration)]


def _step_fields(step: int) -> tuple[str, ...]:
    fields = accounts.PATIENT_STEPS[step - 1]
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
    def start(self) -> None:
        self.step, self.draft, self._password = 1, {}, ""
        self._reset_form()

    @rx.event
    def back(self) -> None:
        self._reset_form()
        self.step = max(1, self.step - 1)

    def _form(self) -> accounts.PatientRegistration:
        data = {k: self.draft.get(k, "") for k in _PATIENT_FIELDS}
        data["password"] = self._password
        return accounts.PatientRegistration(**data)

    @rx.event
    async def submit_step(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        self._reset_form()
        # Only this step's fields: the browser may also send stale values of earlier steps.
        for key in _step_fields(self.step):
            if key == "password":
                self._password = form_text(form, key)
            else:
                self.draft[key] = form_text(form, key)
        settings, now = runner.get_settings(), runner.utcnow()
        errors = accounts.check_patient_step(
            self._form(), step=self.step, settings=settings, now=now
        )
        if errors:
            self.errors, self.form_error = errors, "Please correct the highlighted fields."
            self.step = min(
                i + 1 for i in range(self.step) if set(_step_fields(i + 1)) & set(errors)
            )
            return
        if self.step < len(accounts.PATIENT_STEPS):
            self.step += 1
            return
        self.busy = True
        yield
        registration = self._form()
        client = self.router.session.client_ip
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: accounts.register_patient(
                    s, form=registration, settings=cfg, now=now, client=client
                )
            )
        )
        self.busy = False
        if ok:
            self.step, self.draft, self._password = 1, {}, ""
            yield rx.redirect(f"{routes.REGISTER_DONE}?who=patient")
            yield rx.toast.success("Almost done: check your email to activate your account.")


class ApplyState(FormMixin, rx.State):
    @rx.event
    def start(self) -> None:
        self._reset_form()

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        application = accounts.DoctorApplication(
            **{
                f.name: form_text(form, f.name)
                for f in dataclasses.fields(accounts.DoctorApplication)
                if f.name not in {"consultation_types", "languages"}
            },
            consultation_types=chosen(form, "ctype_"),
            languages=chosen(form, "lang_"),
        )
        client = self.router.session.client_ip
        self.busy = True
        yield
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: accounts.apply_doctor(
                    s, form=application, settings=cfg, now=now, client=client
                )
            )
        )
        self.busy = False
        if ok:
            yield rx.redirect(f"{routes.REGISTER_DONE}?who=doctor")
            yield rx.toast.success("Application received: check your email to confirm it.")
