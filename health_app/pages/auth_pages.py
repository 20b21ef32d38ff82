"""Login, registration, doctor application, email-link pages and password reset."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import (
    PASSWORD_HINT,
    banner,
    chips_field,
    select_field,
    submit,
    text_field,
)
from health_app.components.layout import page
from health_app.components.native_form import post_form
from health_app.components.person_fields import (
    address_fields,
    clinic_fields,
    health_card_fields,
)
from health_app.http_auth import LOGIN_ROUTE
from health_app.services.catalogue import consultation_types, languages, specialties
from health_app.state.email_links import ConfirmState, ResendState, ResetPasswordState
from health_app.state.links import reachable
from health_app.state.login import LoginState
from health_app.state.registration import ApplyState, RegisterState


def login() -> rx.Component:
    return page(
        banner(LoginState.notice, color="blue"),
        banner(LoginState.form_error),
        # A plain form posting to our HTTP route, which sets the HttpOnly session cookie.
        post_form(
            rx.vstack(
                text_field(
                    "Email", "email", LoginState.errors, type="email", autocomplete="username"
                ),
                text_field(
                    "Password",
                    "password",
                    LoginState.errors,
                    type="password",
                    autocomplete="current-password",
                ),
                rx.button("Log in", type="submit", size="3", id="login-submit"),
                spacing="3",
                align="stretch",
            ),
            action=reachable(LOGIN_ROUTE),
            form_id="login-form",
        ),
        rx.flex(
            rx.link("Forgot your password?", href=routes.FORGOT_PASSWORD),
            rx.link("Create a patient account", href=routes.REGISTER),
            rx.link("Apply as a doctor", href=routes.APPLY),
            spacing="4",
            wrap="wrap",
        ),
        heading="Log in",
        max_width="28em",
    )


def _step_indicator() -> rx.Component:
    return rx.text(
        "Step ",
        RegisterState.step,
        " of 3",
        aria_live="polite",
        color_scheme="gray",
        id="register-step",
    )


def _draft(name: str) -> rx.Var:
    return RegisterState.draft.get(name, "").to(str)


def _registration_value(name: str) -> rx.Var:
    return RegisterState.province_default if name == "province" else _draft(name)


def register() -> rx.Component:
    e = RegisterState.errors
    step1 = rx.vstack(
        rx.heading("About you", as_="h2", size="5"),
        text_field(
            "First name",
            "first_name",
            e,
            autocomplete="given-name",
            default_value=_draft("first_name"),
        ),
        text_field(
            "Preferred name",
            "preferred_name",
            e,
            required=False,
            autocomplete="nickname",
            default_value=_draft("preferred_name"),
        ),
        text_field(
            "Last name",
            "last_name",
            e,
            autocomplete="family-name",
            default_value=_draft("last_name"),
        ),
        text_field(
            "Date of birth",
            "date_of_birth",
            e,
            type="date",
            autocomplete="bday",
            default_value=_draft("date_of_birth"),
        ),
        text_field(
            "Mobile phone",
            "phone",
            e,
            type="tel",
            required=False,
            autocomplete="tel",
            hint="For text reminders and phone visits.",
            default_value=_draft("phone"),
        ),
        spacing="3",
        align="stretch",
    )
    step2 = rx.vstack(
        rx.heading("Address and health card", as_="h2", size="5"),
        *address_fields(e, _registration_value),
        *health_card_fields(e, _registration_value),
        spacing="3",
        align="stretch",
    )
    step3 = rx.vstack(
        rx.heading("Your login", as_="h2", size="5"),
        text_field(
            "Email", "email", e, type="email", autocomplete="email", default_value=_draft("email")
        ),
        text_field(
            "Email again",
            "email_confirm",
            e,
            type="email",
            autocomplete="email",
            default_value=_draft("email_confirm"),
        ),
        text_field(
            "Password",
            "password",
            e,
            type="password",
            autocomplete="new-password",
            hint=PASSWORD_HINT,
        ),
        spacing="3",
        align="stretch",
    )
    return page(
        _step_indicator(),
        banner(RegisterState.form_error),
        rx.form(
            rx.match(RegisterState.step, (1, step1), (2, step2), step3),
            rx.flex(
                rx.cond(
                    RegisterState.step > 1,
                    rx.button(
                        "Back",
                        type="button",
                        variant="outline",
                        size="3",
                        on_click=RegisterState.back,
                    ),
                ),
                submit(
                    rx.cond(RegisterState.step < 3, "Continue", "Create account"),
                    RegisterState.busy,
                    id="register-next",
                ),
                spacing="3",
                padding_top="1em",
            ),
            on_submit=RegisterState.submit_step,
            key=RegisterState.step,
        ),
        rx.text("Already registered? ", rx.link("Log in", href=routes.LOGIN, underline="always")),
        heading="Create your patient account",
        max_width="32em",
    )


def apply() -> rx.Component:
    e = ApplyState.errors
    return page(
        rx.text(
            "Tell us about your practice. After you confirm your email, an administrator "
            "reviews your application; you can log in once it is approved."
        ),
        banner(ApplyState.form_error),
        rx.form(
            rx.vstack(
                rx.heading("You", as_="h2", size="5"),
                text_field("First name", "first_name", e, autocomplete="given-name"),
                text_field("Preferred name", "preferred_name", e, required=False),
                text_field("Last name", "last_name", e, autocomplete="family-name"),
                text_field("Phone", "phone", e, type="tel", required=False, autocomplete="tel"),
                text_field("Email", "email", e, type="email", autocomplete="email"),
                text_field("Email again", "email_confirm", e, type="email"),
                text_field(
                    "Password",
                    "password",
                    e,
                    type="password",
                    autocomplete="new-password",
                    hint=PASSWORD_HINT,
                ),
                rx.heading("Your practice", as_="h2", size="5"),
                rx.vstack(
                    rx.el.label("Qualifications", html_for="qualifications", font_weight="500"),
                    rx.text_area(
                        id="qualifications",
                        name="qualifications",
                        rows="4",
                        width="100%",
                        aria_describedby="qualifications-error",
                    ),
                    rx.cond(
                        e.get("qualifications", "").to(str) != "",
                        rx.text(
                            e.get("qualifications", "").to(str),
                            id="qualifications-error",
                            color_scheme="red",
                            size="2",
                            role="alert",
                        ),
                    ),
                    spacing="1",
                    align="stretch",
                ),
                text_field(
                    "Licence number (CPSO)",
                    "licence_number",
                    e,
                    autocomplete="off",
                    inputmode="numeric",
                    hint="Your registration number with the College, like 123456.",
                ),
                select_field("Specialty", "specialty", list(specialties()), e),
                chips_field(
                    "Consultation types", "ctype_", consultation_types(), e, "consultation_types"
                ),
                chips_field("Languages", "lang_", languages(), e, "languages"),
                *clinic_fields(e, lambda name: "ON" if name == "clinic_province" else None),
                submit("Send application", ApplyState.busy, id="apply-submit"),
                spacing="3",
                align="stretch",
            ),
            on_submit=ApplyState.submit,
        ),
        heading="Apply as a doctor",
        max_width="40em",
    )


def register_done() -> rx.Component:
    return page(
        rx.cond(
            ResendState.address != "",
            rx.text(
                "We sent a link to ",
                rx.text.strong(ResendState.address, id="sent-to"),
                ". Open it to activate your account. "
                "It can take a minute to arrive; check your spam folder too.",
            ),
            rx.text(
                "We sent a link to the address you gave. Open it to activate your account. "
                "It can take a minute to arrive; check your spam folder too."
            ),
        ),
        rx.text(
            "If you already have an account with that address, the email tells you how to log in."
        ),
        rx.heading("No email?", as_="h2", size="4"),
        rx.cond(
            ResendState.sent,
            rx.text(
                "If that address has an account waiting for activation, a new link is on its way.",
                role="status",
            ),
            rx.form(
                rx.flex(
                    rx.box(
                        text_field(
                            "Email",
                            "email",
                            ResendState.errors,
                            type="email",
                            autocomplete="email",
                            default_value=ResendState.address,
                        ),
                        flex_grow="1",
                    ),
                    rx.button("Send a new link", type="submit", size="3"),
                    spacing="2",
                    align="end",
                    wrap="wrap",
                ),
                on_submit=ResendState.resend_confirmation,
            ),
        ),
        heading="Check your email",
    )


def _link_problem(message: rx.Var, retry_label: str, retry_href: str) -> rx.Component:
    return rx.vstack(
        rx.callout(message, color_scheme="red", role="alert"),
        rx.link(retry_label, href=retry_href),
        align="start",
    )


def confirm() -> rx.Component:
    return page(
        rx.match(
            ConfirmState.outcome,
            (
                "working",
                rx.flex(
                    rx.spinner(), rx.text("Confirming your email…"), spacing="2", role="status"
                ),
            ),
            (
                "confirmed",
                rx.vstack(
                    rx.callout(
                        "Your email is confirmed. You can log in now.",
                        color_scheme="green",
                        role="status",
                    ),
                    rx.link(rx.button("Log in", size="3"), href=routes.LOGIN),
                ),
            ),
            (
                "awaiting_approval",
                rx.callout(
                    "Your email is confirmed. An administrator will review your application; "
                    "we will email you when it is decided.",
                    color_scheme="green",
                    role="status",
                ),
            ),
            _link_problem(
                ConfirmState.message, "Send me a new activation link", routes.REGISTER_DONE
            ),
        ),
        heading="Email confirmation",
    )


def confirm_email_change() -> rx.Component:
    return page(
        rx.match(
            ConfirmState.outcome,
            ("working", rx.flex(rx.spinner(), rx.text("Confirming…"), spacing="2", role="status")),
            (
                "email_changed",
                rx.callout(
                    rx.text("Your login email is now ", rx.text.strong(ConfirmState.message), "."),
                    color_scheme="green",
                    role="status",
                ),
            ),
            _link_problem(ConfirmState.message, "Go to your profile", routes.PROFILE),
        ),
        heading="New email address",
    )


def forgot_password() -> rx.Component:
    return page(
        rx.cond(
            ResendState.sent,
            rx.callout(
                "If an account uses that address, we sent it a link to choose a new password. "
                "The link works once and expires soon.",
                color_scheme="green",
                role="status",
            ),
            rx.form(
                rx.vstack(
                    rx.text(
                        "Enter your account's email; we will send you a link "
                        "to choose a new password."
                    ),
                    text_field(
                        "Email", "email", ResendState.errors, type="email", autocomplete="username"
                    ),
                    submit("Send reset link", ResendState.busy, id="forgot-submit"),
                    spacing="3",
                    align="stretch",
                ),
                on_submit=ResendState.request_reset,
            ),
        ),
        heading="Forgot your password?",
        max_width="28em",
    )


def reset_password() -> rx.Component:
    e = ResetPasswordState.errors
    return page(
        rx.cond(
            ResetPasswordState.link_problem != "",
            _link_problem(
                ResetPasswordState.link_problem, "Ask for a new link", routes.FORGOT_PASSWORD
            ),
            rx.vstack(
                banner(ResetPasswordState.form_error),
                rx.cond(
                    ResetPasswordState.form_error.contains("link"),
                    rx.link("Ask for a new link", href=routes.FORGOT_PASSWORD),
                ),
                rx.form(
                    rx.vstack(
                        text_field(
                            "New password",
                            "password",
                            e,
                            type="password",
                            autocomplete="new-password",
                            hint=PASSWORD_HINT,
                        ),
                        text_field(
                            "New password again",
                            "password_confirm",
                            e,
                            type="password",
                            autocomplete="new-password",
                        ),
                        submit("Set new password", ResetPasswordState.busy, id="reset-submit"),
                        spacing="3",
                        align="stretch",
                    ),
                    on_submit=ResetPasswordState.submit,
                ),
                align="stretch",
                width="100%",
            ),
        ),
        heading="Choose a new password",
        max_width="28em",
    )
