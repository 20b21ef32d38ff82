"""Pages reached from email links, and the forms that send those links."""

from __future__ import annotations

from typing import Any

import reflex as rx

from health_app import routes
from health_app.services import accounts, profiles
from health_app.services.errors import TokenInvalid
from health_app.state import runner
from health_app.state.forms import FormMixin, form_text


def _token(state: rx.State) -> str:
    return state.router.url.query_parameters.get("token", "")


class ConfirmState(rx.State):
    """Activation link: confirms on load (scanners that do not run scripts cannot trigger it)."""

    outcome: str = "working"  # working | confirmed | awaiting_approval | email_changed | invalid
    message: str = ""

    @rx.event
    async def confirm_account(self) -> None:
        token = _token(self)
        self.outcome, self.message = "working", ""
        try:
            result = await runner.call(
                lambda s, cfg, now: accounts.confirm_email(s, token=token, settings=cfg, now=now)
            )
        except TokenInvalid as exc:
            self.outcome, self.message = "invalid", exc.message
            return
        self.outcome = "awaiting_approval" if result.awaiting_approval else "confirmed"

    @rx.event
    async def confirm_email_change(self) -> None:
        token = _token(self)
        self.outcome, self.message = "working", ""
        try:
            address = await runner.call(
                lambda s, cfg, now: profiles.confirm_email_change(s, token=token, now=now)
            )
        except TokenInvalid as exc:
            self.outcome, self.message = "invalid", exc.message
            return
        self.outcome, self.message = "email_changed", address


class ResendState(FormMixin, rx.State):
    """'Send me a new link' for activation and password reset; always the same answer."""

    sent: bool = False

    @rx.event
    def start(self) -> None:
        self.sent = False
        self._reset_form()

    @rx.event
    async def resend_confirmation(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        email = form_text(form, "email")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: accounts.resend_confirmation(
                    s, email=email, settings=cfg, now=now
                )
            )
        )
        if ok:
            self.sent = True
            yield rx.toast.success(
                "If that address has an account waiting for activation, a new link is on its way."
            )

    @rx.event
    async def request_reset(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        email = form_text(form, "email")
        self.busy = True
        yield
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: accounts.request_password_reset(
                    s, email=email, settings=cfg, now=now
                )
            )
        )
        self.busy = False
        if ok:
            self.sent = True
            yield rx.toast.success("Check your email for a reset link.")


class ResetPasswordState(FormMixin, rx.State):
    link_problem: str = ""

    @rx.event
    def start(self) -> None:
        self._reset_form()
        self.link_problem = (
            "" if _token(self) else "This link is incomplete. Please ask for a new one."
        )

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        token = _token(self)
        password, confirm = form_text(form, "password"), form_text(form, "password_confirm")
        self.busy = True
        yield
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: accounts.reset_password(
                    s, token=token, password=password, password_confirm=confirm, now=now
                )
            )
        )
        self.busy = False
        if ok:
            yield rx.redirect(f"{routes.LOGIN}?reason=reset")
            yield rx.toast.success("Your password was changed.")
