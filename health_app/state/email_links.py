"""Pages reached from email links, and the forms that send those links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from health_app import routes
from health_app.page_loads import ends_page_load
from health_app.services.accounts import profiles, registration
from health_app.services.errors import TokenInvalid
from health_app.state.client import toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, ServiceState, public


def _token(state: rx.State) -> str:
    return state.router.url.query_parameters.get("token", "")


class ConfirmState(ServiceState, rx.State):
    """Activation link: confirms on load (scanners that do not run scripts cannot trigger it)."""

    outcome: str = "working"  # working | confirmed | awaiting_approval | email_changed | invalid
    message: str = ""

    @rx.event
    @ends_page_load
    @public
    async def confirm_account(self) -> None:
        self.outcome, self.message = "working", ""
        try:
            result = await self._call(registration.confirm_email, token=_token(self))
        except TokenInvalid as exc:
            self.outcome, self.message = "invalid", exc.message
            return
        self.outcome = "awaiting_approval" if result.awaiting_approval else "confirmed"

    @rx.event
    @ends_page_load
    @public
    async def confirm_email_change(self) -> None:
        self.outcome, self.message = "working", ""
        try:
            address = await self._call(profiles.confirm_email_change, token=_token(self))
        except TokenInvalid as exc:
            self.outcome, self.message = "invalid", exc.message
            return
        self.outcome, self.message = "email_changed", address


class ResendState(FormMixin, rx.State):
    """'Send me a new link' for activation and password reset; always the same answer."""

    sent: bool = False
    # The address a registration or application in this tab just sent its link to, so the
    # "check your email" page can name it and fill the resend field with it.
    address: str = ""

    @rx.event
    @ends_page_load
    def start(self) -> None:
        self.sent = False
        self._reset_form()

    @rx.event
    @public
    async def resend_confirmation(self, form: dict[str, Any]) -> Events:
        await self._call(
            registration.resend_confirmation,
            email=form_text(form, "email"),
            client=self.router.session.client_ip,
        )
        self.sent = True
        return toast_success(
            "If that address has an account waiting for activation, a new link is on its way."
        )

    @rx.event
    @public
    async def request_reset(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        await self._call(
            registration.request_password_reset,
            email=form_text(form, "email"),
            client=self.router.session.client_ip,
        )
        self.busy = False
        self.sent = True
        yield toast_success("Check your email for a reset link.")


class ResetPasswordState(FormMixin, rx.State):
    link_problem: str = ""

    @rx.event
    @ends_page_load
    def start(self) -> None:
        self._reset_form()
        self.link_problem = (
            "" if _token(self) else "This link is incomplete. Please ask for a new one."
        )

    @rx.event
    @public
    async def submit(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        await self._call(
            registration.reset_password,
            token=_token(self),
            password=form_text(form, "password"),
            password_confirm=form_text(form, "password_confirm"),
        )
        self.busy = False
        yield rx.redirect(f"{routes.LOGIN}?reason=reset")
        yield toast_success("Your password was changed.")
