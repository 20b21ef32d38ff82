"""The text of account emails. Short, plain, no health information."""

from __future__ import annotations

from health_app.services.messaging.mailer import EmailText

__all__ = ["EmailText"]


def _sign(body: str) -> str:
    return body.rstrip() + "\n\n- Health App\n"


def confirm_email(name: str, link: str, hours: int) -> EmailText:
    return EmailText(
        "Confirm your email for Health App",
        _sign(
            f"Hello {name},\n\nPlease confirm your email address to activate your account:\n\n"
            f"{link}\n\nThis link works once and expires in {hours} hours. "
            "If you did not sign up, ignore this email."
        ),
    )


def already_registered(link_login: str, link_reset: str) -> EmailText:
    return EmailText(
        "Your Health App account",
        _sign(
            "Someone (maybe you) tried to create a Health App account with this email address, "
            "but an account already exists for it.\n\n"
            f"Log in: {link_login}\nForgot your password? {link_reset}\n\n"
            "If this was not you, you can ignore this email; your account is unchanged."
        ),
    )


def registration_not_completed(link_reset: str) -> EmailText:
    return EmailText(
        "We could not complete your Health App registration",
        _sign(
            "We could not create an account with the details you entered. If you already have "
            f"an account, you can reset your password here: {link_reset}\n\n"
            "Otherwise, please contact the clinic so we can help."
        ),
    )


def card_used_again(name: str) -> EmailText:
    return EmailText(
        "Someone tried to register with your health card",
        _sign(
            f"Hello {name},\n\nSomeone tried to create a new Health App account with the health "
            "card number on your account. No new account was created. If this was not you, "
            "please contact the clinic."
        ),
    )


def reset_password(link: str, minutes: int) -> EmailText:
    return EmailText(
        "Reset your Health App password",
        _sign(
            f"To choose a new password, open this link:\n\n{link}\n\n"
            f"It works once and expires in {minutes} minutes. "
            "If you did not ask for this, ignore this email; your password is unchanged."
        ),
    )


def reset_without_account(link_register: str) -> EmailText:
    return EmailText(
        "Reset your Health App password",
        _sign(
            "Someone (maybe you) asked to reset the Health App password of this email address, "
            "but no account uses it.\n\n"
            f"To create one: {link_register}\n\n"
            "If this was not you, you can ignore this email."
        ),
    )


def failed_logins(name: str, count: int, link_reset: str) -> EmailText:
    return EmailText(
        "Failed logins to your Health App account",
        _sign(
            f"Hello {name},\n\n"
            f"Someone tried to log in to your Health App account {count} times in the last "
            "hour with a wrong password. Nobody got in, and you can still log in as usual.\n\n"
            "If this was not you, choose a new password to be safe:\n"
            f"{link_reset}"
        ),
    )


def password_changed(name: str) -> EmailText:
    return EmailText(
        "Your Health App password was changed",
        _sign(
            f"Hello {name},\n\nYour password was just changed and your other sessions were "
            "logged out. If this was not you, reset your password at once and contact the clinic."
        ),
    )


def confirm_new_email(name: str, link: str, hours: int) -> EmailText:
    return EmailText(
        "Confirm your new email for Health App",
        _sign(
            f"Hello {name},\n\nConfirm this address as your new Health App login:\n\n{link}\n\n"
            f"The link expires in {hours} hours. Until you confirm, your old address stays in use."
        ),
    )


def email_change_requested(name: str, new_email: str) -> EmailText:
    return EmailText(
        "Your Health App email is about to change",
        _sign(
            f"Hello {name},\n\nSomeone asked to change your login email to {new_email}. "
            "It only changes once the link sent there is opened. If this was not you, log in and "
            "choose 'Cancel pending change', then change your password."
        ),
    )


def doctor_application_received(name: str) -> EmailText:
    return EmailText(
        "Your application is waiting for approval",
        _sign(
            f"Hello Dr. {name},\n\nThank you for confirming your email. An administrator will "
            "review your application; we will email you as soon as it is decided."
        ),
    )


def new_doctor_application(doctor_name: str, link: str) -> EmailText:
    return EmailText(
        "New doctor application to review",
        _sign(f"Dr. {doctor_name} applied to join Health App. Review it here: {link}"),
    )


def doctor_approved(name: str, link: str) -> EmailText:
    return EmailText(
        "Your Health App application was approved",
        _sign(f"Hello Dr. {name},\n\nYour application was approved. You can log in now: {link}"),
    )


def doctor_rejected(name: str, reason: str) -> EmailText:
    return EmailText(
        "Your Health App application",
        _sign(
            f"Hello Dr. {name},\n\nWe are sorry: your application was not approved.\n\n"
            f"Reason: {reason}\n\nReply to the clinic if you have questions."
        ),
    )


def account_deactivated(name: str) -> EmailText:
    return EmailText(
        "Your Health App account was deactivated",
        _sign(
            f"Hello {name},\n\nAn administrator deactivated your account, and you have been "
            "logged out. Contact the clinic if you think this is a mistake."
        ),
    )
