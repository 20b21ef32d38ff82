"""One way to write an event handler: input -> one service call -> map the result.

    @rx.event
    @signed_in("doctor")
    async def cancel(self, form: dict[str, Any]) -> Events:
        await self._call(booking.cancel_appointment, appointment_id=self.cancelling_id, ...)
        return toast_success("The visit was cancelled.")

`@signed_in` resolves the session once per event (a page that has ended sends the browser
to the login page) and maps what the services refuse onto the page: field errors and the
banner of a form state, and a toast naming the problem wherever the person looks;
anything unexpected is logged and shown as a generic failure, never as a trace.
`self._call` runs one service function as one unit of work (state/unit_of_work.py: a quick
read on the event loop when every core has a worker, else on a thread), handing it the
session, the signed-in actor, the settings, the clock and the file storage by keyword when
its signature asks for them.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import reflex as rx
from reflex.event import EventSpec

from health_app import routes
from health_app.services import audit
from health_app.services.errors import DomainError, ValidationFailed
from health_app.services.views import Actor
from health_app.state.auth import AuthState
from health_app.state.client import toast_error
from health_app.state.unit_of_work import run_service

log = logging.getLogger(__name__)

T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., Any])

# What a handler may hand back to Reflex: nothing, one event, or several.
Events = rx.event.EventSpec | Sequence[rx.event.EventSpec] | None

GENERIC_FAILURE = "Something went wrong on our side. Please try again in a moment."

# The actor resolved for the event being handled; set by `signed_in` for its duration.
_actor: ContextVar[Actor | None] = ContextVar("health_app_actor", default=None)


def login_redirect(reason: str = "login") -> rx.event.EventSpec:
    return rx.redirect(f"{routes.LOGIN}?reason={reason}")


def query_id(state: rx.State, name: str = "id") -> int:
    """A record id from the page's query string; 0 when absent or not a plain number."""
    raw = state.router.url.query_parameters.get(name, "")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else 0


class ServiceState(rx.State, mixin=True):
    """Base of feature states: calls services as the actor `signed_in` resolved."""

    def _page_roles(self) -> tuple[str, ...]:
        """Roles every `@signed_in()` handler of this state requires (none: any role).

        For states whose page is for some roles only, so that a shared handler (paging,
        say) refuses the others as the page's own load does.
        """
        return ()

    async def _call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        actor = _actor.get()
        if actor is not None and _takes_actor(fn):
            kwargs.setdefault("actor", actor)
        return await run_service(fn, **kwargs)

    def _set_changed(self, **values: Any) -> None:
        """Set these vars, leaving alone those already holding the value: a page opened
        again with nothing new sends nothing again, and a var left alone is neither
        type-checked again nor written back to Redis."""
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _signed_in_actor(self) -> Actor:
        """The actor of the handler being run; only inside a `@signed_in` handler."""
        actor = _actor.get()
        if actor is None:
            raise RuntimeError("_signed_in_actor() outside a @signed_in handler")
        return actor


class FormMixin(ServiceState, mixin=True):
    """A state with a form: errors beside fields, a banner message, and a busy flag."""

    errors: dict[str, str] = {}
    form_error: str = ""
    busy: bool = False

    def _reset_form(self) -> None:
        self._set_changed(errors={}, form_error="")


@functools.cache
def _takes_actor(fn: Callable[..., Any]) -> bool:
    return "actor" in inspect.signature(fn).parameters


async def resolve_actor(state: rx.State, roles: tuple[str, ...]) -> tuple[Actor | None, str]:
    """The signed-in actor when their role is one of `roles` (any role when empty), and
    otherwise why not, for the login page: "expired" when a session cookie was sent but
    its session has ended, "login" when there was none.

    A role refusal is an authorization failure and is audited.
    """
    auth = await state.get_state(AuthState)
    had_session = bool(auth._token())
    actor = await auth._current_actor()
    if actor is None:
        return None, "expired" if had_session else "login"
    if roles and actor.role not in roles:
        await run_service(
            audit.deny,
            actor=actor,
            action="page.role",
            object_type="state",
            object_id=type(state).__name__,
        )
        return None, "login"
    return actor, ""


def on_backend_error(exception: Exception) -> EventSpec:
    """Reflex's last resort for an error no handler mapped: logged, never shown as a trace."""
    log.error("unhandled error in an event", exc_info=exception)
    return toast_error(GENERIC_FAILURE)


def _refused(state: rx.State, exc: Exception) -> Events:
    """Show a refusal where the person is: on the form when there is one, and as a toast."""
    if isinstance(exc, DomainError):
        message = exc.message
    else:
        log.exception("unexpected error in %s", type(state).__name__, exc_info=exc)
        message = GENERIC_FAILURE
    if isinstance(state, FormMixin):
        state.busy = False
        state.form_error = message
        if isinstance(exc, ValidationFailed):
            state.errors = dict(exc.field_errors)
            first = next(iter(exc.field_errors.values()), "")
            # The form may be long: the toast says it where the person is looking.
            return toast_error(f"{message} {first}".strip())
    return toast_error(message)


def _guarded(roles: tuple[str, ...], reason: str, *, needs_actor: bool) -> Callable[[H], H]:
    def decorate(handler: H) -> H:
        async def enter(state: rx.State) -> tuple[str, Any]:
            """("", reset) when the handler may run, else (why, None) for the login page."""
            if isinstance(state, FormMixin):
                state._reset_form()
            if not needs_actor:
                return "", None
            wanted = roles or (state._page_roles() if isinstance(state, ServiceState) else ())
            actor, why = await resolve_actor(state, wanted)
            if actor is None:
                # An ended session says so, whatever the handler's usual reason.
                return ("expired" if why == "expired" else reason), None
            return "", _actor.set(actor)

        if inspect.isasyncgenfunction(handler):

            @functools.wraps(handler)
            async def run_generator(
                self: rx.State, *args: Any, **kwargs: Any
            ) -> AsyncIterator[Any]:
                refused, reset = await enter(self)
                try:
                    if refused:
                        yield login_redirect(refused)
                        return
                    try:
                        async for event in handler(self, *args, **kwargs):
                            yield event
                    except Exception as exc:
                        yield _refused(self, exc)
                finally:
                    if reset is not None:
                        _actor.reset(reset)

            return cast(H, run_generator)

        @functools.wraps(handler)
        async def run(self: rx.State, *args: Any, **kwargs: Any) -> Any:
            refused, reset = await enter(self)
            try:
                if refused:
                    return login_redirect(refused)
                try:
                    return await handler(self, *args, **kwargs)
                except Exception as exc:
                    return _refused(self, exc)
            finally:
                if reset is not None:
                    _actor.reset(reset)

        return cast(H, run)

    return decorate


def signed_in(*roles: str, reason: str = "expired") -> Callable[[H], H]:
    """For handlers of signed-in people with one of `roles` (by default the state's
    `_page_roles()`, and any role when that is empty too).

    Page loads pass `reason="login"` ("Please log in"); actions keep "expired" ("Your
    session ended"), since the person was signed in when the page was drawn.
    """
    return _guarded(roles, reason, needs_actor=True)


def public(handler: H) -> H:
    """For handlers anyone may call (login, registration, email links): errors mapped only."""
    return _guarded((), "login", needs_actor=False)(handler)
