"""Event handlers called directly, as any browser could call them."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from health_app.db import session_scope
from health_app.dev import demo
from health_app.models import AuditEvent, User
from health_app.state.admin import UsersState
from health_app.state.auth import AuthState
from health_app.state.login import LoginState
from health_app.state.registration import RegisterState


def _run(coro: Any) -> Any:
    """asyncio.run in a fresh thread: the browser tier may hold this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _drain(gen: Any) -> list[Any]:
    out = []
    if hasattr(gen, "__anext__"):
        async for item in gen:
            out.append(item)
    elif asyncio.iscoroutine(gen):
        out.append(await gen)
    return out


def _seed() -> None:
    from health_app.config import get_settings

    with session_scope() as s:
        demo.seed_demo(s, settings=get_settings(), now=datetime.now(UTC), doctors=1, patients=1)


def _root_with(*classes: type) -> dict[type, Any]:
    """Instantiate states sharing one root, so get_state finds the same AuthState."""
    from reflex.state import State

    root = State()
    return {cls: root.get_substate(cls.get_full_name().split(".")[1:]) for cls in classes}


def test_wrong_password_shows_a_message_and_signs_nobody_in(app_db: str) -> None:
    _seed()
    states = _root_with(LoginState, AuthState)
    login, auth = states[LoginState], states[AuthState]
    _run(_drain(login.submit({"email": demo.DEMO_PATIENT, "password": "not the password"})))
    assert login.form_error == "Email or password is incorrect."
    assert auth.session_token == "" and auth._user_id is None


def test_login_sets_a_server_issued_token(app_db: str) -> None:
    _seed()
    states = _root_with(LoginState, AuthState)
    login, auth = states[LoginState], states[AuthState]
    _run(_drain(login.submit({"email": demo.DEMO_ADMIN, "password": demo.DEMO_PASSWORD})))
    assert login.form_error == ""
    assert len(auth.session_token) >= 43 and auth.role == "admin"
    # The role shown in navigation is derived from the server session, never from input.
    auth.role = "patient"
    actor = _run(auth._current_actor())
    assert actor is not None and actor.role == "admin" and auth.role == "admin"


def test_admin_handler_called_by_a_patient_changes_nothing(app_db: str) -> None:
    _seed()
    states = _root_with(LoginState, AuthState, UsersState)
    _run(
        _drain(
            states[LoginState].submit({"email": demo.DEMO_PATIENT, "password": demo.DEMO_PASSWORD})
        )
    )
    users = states[UsersState]
    _run(_drain(users.set_active(1, False)))
    _run(_drain(users.load()))
    assert users.form_error == "Not found." and users.rows == []
    with session_scope() as s:
        assert all(u.deactivated_at is None for u in s.exec(select(User)))
        denied = s.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
        assert {d.action for d in denied} == {"admin.deactivate_user", "admin.list_users"}


def test_registration_steps_keep_earlier_answers_and_go_back_to_errors(app_db: str) -> None:
    state = _root_with(RegisterState)[RegisterState]
    _run(
        _drain(
            state.submit_step(
                {"first_name": "Ana", "last_name": "Lima", "date_of_birth": "1990-01-01"}
            )
        )
    )
    assert state.step == 2 and state.errors == {}
    # A stale or forged field from step 1 is ignored on step 2.
    _run(
        _drain(
            state.submit_step(
                {
                    "first_name": "",
                    "address_line": "1 Main St",
                    "city": "Toronto",
                    "province": "ON",
                    "postal_code": "M5V 2T6",
                    "health_card_number": "bad",
                    "health_card_expiry": "2031-01-01",
                }
            )
        )
    )
    assert state.step == 2 and set(state.errors) == {"health_card_number"}
    assert state.draft["first_name"] == "Ana"


@pytest.mark.parametrize("handler", ["load", "save", "save_notifications", "cancel_email_change"])
def test_profile_handlers_without_a_session_redirect_to_login(app_db: str, handler: str) -> None:
    from health_app.state.profile import ProfileState

    state = _root_with(ProfileState)[ProfileState]
    args = () if handler in {"load", "cancel_email_change"} else ({"first_name": "X"},)
    result = _run(_drain(getattr(state, handler)(*args)))
    assert "/login" in str(result)
    assert state.values == {}
