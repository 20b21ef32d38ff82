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


def _router_at(url: str) -> Any:
    from reflex import constants
    from reflex.istate.data import RouterData

    return RouterData.from_router_data({constants.RouteVar.ORIGIN: url})


def _root_with(*classes: type) -> dict[type, Any]:
    """Instantiate states sharing one root, so get_state finds the same AuthState."""
    from reflex.state import State

    root = State()
    return {cls: root.get_substate(cls.get_full_name().split(".")[1:]) for cls in classes}


def _auth_client() -> Any:
    """The login and logout routes served in-process, as the browser reaches them."""
    import warnings

    from starlette.applications import Starlette

    from health_app.config import get_settings
    from health_app.http_auth import auth_routes

    with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = Starlette(routes=auth_routes(get_settings))
    return TestClient(app, base_url="http://127.0.0.1", headers={"origin": "http://127.0.0.1"})


def _log_in(client: Any, email: str, password: str) -> Any:
    return client.post(
        "/_auth/login", data={"email": email, "password": password}, follow_redirects=False
    )


def _root_signed_in(token: str, *classes: type) -> dict[type, Any]:
    """States whose event socket was opened with this session cookie."""
    from reflex import constants
    from reflex.istate.data import RouterData

    states = _root_with(AuthState, *classes)
    states[AuthState].router = RouterData.from_router_data(
        {
            constants.RouteVar.HEADERS: {"cookie": f"ha_session={token}"} if token else {},
            constants.RouteVar.ORIGIN: "/dashboard",
        }
    )
    return states


def test_wrong_password_sends_back_to_login_and_sets_no_cookie(app_db: str) -> None:
    _seed()
    response = _log_in(_auth_client(), demo.DEMO_PATIENT, "not the password")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?failed=credentials"
    assert "set-cookie" not in response.headers
    states = _root_with(LoginState, AuthState)
    login = states[LoginState]
    login.router = _router_at("/login?failed=credentials")
    _run(_drain(login.load()))
    assert login.form_error == "Email or password is incorrect."
    assert states[AuthState]._user_id is None


def test_login_sets_an_httponly_server_issued_cookie(app_db: str) -> None:
    _seed()
    response = _log_in(_auth_client(), demo.DEMO_ADMIN, demo.DEMO_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ha_session=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Path=/" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43
    auth = _root_signed_in(token)[AuthState]
    actor = _run(auth._current_actor())
    assert actor is not None and actor.role == "admin" and auth.role == "admin"
    # The role shown in navigation is derived from the server session, never from input.
    auth.role = "patient"
    actor = _run(auth._current_actor())
    assert actor is not None and actor.role == "admin" and auth.role == "admin"
    # No state the browser receives holds the token.
    assert token not in repr(auth.dict())


def test_over_https_the_cookie_is_host_prefixed_and_secure(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from health_app import config

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://clinic.example")
    monkeypatch.setenv("DEV_MODE", "false")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("FILE_LINK_SECRET", "y" * 40)
    config.get_settings.cache_clear()
    _seed()
    client = _auth_client()
    response = client.post(
        "/_auth/login",
        data={"email": demo.DEMO_ADMIN, "password": demo.DEMO_PASSWORD},
        headers={"origin": "https://clinic.example"},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-ha_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Domain" not in cookie


def test_a_copied_token_is_refused_after_logout(app_db: str) -> None:
    _seed()
    client = _auth_client()
    token = _log_in(client, demo.DEMO_PATIENT, demo.DEMO_PASSWORD).cookies["ha_session"]
    out = client.post("/_auth/logout", follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login?reason=logged_out"
    assert 'ha_session=""' in out.headers["set-cookie"]
    # Someone who copied the cookie before the logout replays it on a new socket.
    auth = _root_signed_in(token)[AuthState]
    assert _run(auth._current_actor()) is None


def test_login_and_logout_from_another_origin_are_refused(app_db: str) -> None:
    _seed()
    client = _auth_client()
    forged = client.post(
        "/_auth/login",
        data={"email": demo.DEMO_ADMIN, "password": demo.DEMO_PASSWORD},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    token = _log_in(client, demo.DEMO_ADMIN, demo.DEMO_PASSWORD).cookies["ha_session"]
    client.post("/_auth/logout", headers={"origin": "https://evil.example"})
    assert _run(_root_signed_in(token)[AuthState]._current_actor()) is not None


def test_an_ended_session_goes_to_login_saying_it_expired(app_db: str) -> None:
    """After a timeout or logout the page says the session ended, not just "log in"."""
    from health_app.state.profile import ProfileState

    _seed()
    client = _auth_client()
    token = _log_in(client, demo.DEMO_PATIENT, demo.DEMO_PASSWORD).cookies["ha_session"]
    client.post("/_auth/logout")
    states = _root_signed_in(token, ProfileState)
    assert "reason=expired" in str(_run(_drain(states[ProfileState].load())))
    anonymous = _root_signed_in("", ProfileState)
    assert "reason=login" in str(_run(_drain(anonymous[ProfileState].load())))


def test_admin_handler_called_by_a_patient_changes_nothing(app_db: str) -> None:
    _seed()
    token = _log_in(_auth_client(), demo.DEMO_PATIENT, demo.DEMO_PASSWORD).cookies["ha_session"]
    users = _root_signed_in(token, UsersState)[UsersState]
    # An admin page sends other roles to the login page, like every role-guarded page.
    assert "/login" in str(_run(_drain(users.set_active(1, False))))
    assert "/login" in str(_run(_drain(users.load())))
    assert users.rows == []
    with session_scope() as s:
        assert all(u.deactivated_at is None for u in s.exec(select(User)))
        denied = s.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
        assert {d.action for d in denied} == {"page.role"} and len(denied) == 2


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


def test_a_doctor_saves_the_profile_with_hyphenated_consultation_types(app_db: str) -> None:
    """Before: "Unknown consultation type" for Sick note, Cold and flu and five more, because
    the form sent both `ctype_sick-note` and `ctype_sick_note`."""
    from health_app.services.catalogue import consultation_types
    from health_app.state.profile import ProfileState

    _seed()
    token = _log_in(_auth_client(), demo.DEMO_DOCTOR, demo.DEMO_PASSWORD).cookies["ha_session"]
    profile = _root_signed_in(token, ProfileState)[ProfileState]
    _run(_drain(profile.load()))
    hyphenated = [c for c in consultation_types() if "-" in c]
    assert len(hyphenated) == 7
    form = {k: v for k, v in profile.values.items()}
    form.update({f"ctype_{c.replace('-', '_')}": True for c in [*hyphenated, "general"]})
    form.update({f"lang_{c}": True for c in profile.languages})
    events = _run(_drain(profile.save(form)))
    assert profile.form_error == "" and profile.errors == {}, profile.errors
    assert "Your profile was saved." in str(events)
    assert sorted(profile.consultation_types) == sorted([*hyphenated, "general"])


def test_a_dashboard_loaded_again_with_nothing_new_sends_nothing(app_db: str) -> None:
    from health_app.state.dashboard import DashboardState
    from health_app.state.visits import VisitsState

    _seed()
    token = _log_in(_auth_client(), demo.DEMO_DOCTOR, demo.DEMO_PASSWORD).cookies["ha_session"]
    states = _root_signed_in(token, DashboardState, VisitsState)
    auth, dashboard, visits = states[AuthState], states[DashboardState], states[VisitsState]
    _run(_drain(dashboard.load()))
    assert {"weeks", "day_heading"} <= visits.dirty_vars  # the first load fills the page
    assert visits.day_heading.startswith("Today")
    assert auth.role == "doctor"
    for state in (auth, dashboard, visits):
        state.dirty_vars.clear()
    _run(_drain(dashboard.load()))
    assert (auth.dirty_vars, dashboard.dirty_vars, visits.dirty_vars) == (set(), set(), set())
