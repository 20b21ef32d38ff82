"""The Reflex app: the route table, the lifespan tasks and our own HTTP routes."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from health_app import routes
from health_app.config import get_settings
from health_app.event_figures import figures_lifespan
from health_app.event_figures import install as time_every_event
from health_app.heap import freeze_startup_heap
from health_app.http_auth import auth_routes
from health_app.http_files import file_routes
from health_app.http_health import health_routes
from health_app.http_microsoft import microsoft_routes
from health_app.http_pages import CanonicalPages
from health_app.http_request_ids import RequestIds
from health_app.http_security import SecurityHeaders, backend_origin
from health_app.http_upload_guard import UploadGuard
from health_app.log_redaction import install as redact_secrets_in_logs
from health_app.logs import configure_from_environment as configure_logging
from health_app.page_loads import install as let_page_loads_end_their_chain
from health_app.pages import (
    account_pages,
    admin_pages,
    audit_pages,
    auth_pages,
    availability_pages,
    booking_pages,
    dashboard_pages,
    dev_pages,
    export_pages,
    operations_pages,
    pharmacy_pages,
    public,
    visit_pages,
)
from health_app.redis_lock_waits import install as hear_only_of_locks_waited_for
from health_app.redis_locks import install as release_locks_of_cancelled_events
from health_app.services.files.storage import get_storage
from health_app.services.jobs.scheduler import scheduler_lifespan
from health_app.socket_json import install as write_socket_updates_with_orjson
from health_app.state.admin import ApplicationsState, UsersState
from health_app.state.admin_files import RemovedFilesState
from health_app.state.admin_messages import FailedMessagesState
from health_app.state.audit_pages import AuditLogState, RecordAccessState
from health_app.state.auth import AuthState
from health_app.state.availability import AvailabilityState
from health_app.state.booking import BookingState
from health_app.state.dashboard import DashboardState
from health_app.state.email_links import ConfirmState, ResendState, ResetPasswordState
from health_app.state.export import ExportState
from health_app.state.find import FindDoctorState
from health_app.state.handlers import on_backend_error
from health_app.state.history import HistoryState
from health_app.state.login import LoginState
from health_app.state.mailbox import MailboxState
from health_app.state.operations import OperationsState
from health_app.state.pharmacy import PharmacyState
from health_app.state.profile import ProfileState
from health_app.state.registration import ApplyState, RegisterState
from health_app.state.visit import VisitState
from health_app.state_prefetch import install as fetch_what_events_read_at_once
from health_app.state_round_trips import install as take_and_give_back_tab_states_in_one_trip_each
from health_app.tab_state_cache import install as forget_state_copies_of_closed_tabs
from health_app.worker_liveness import install as keep_tabs_of_dead_workers
from health_app.worker_liveness import liveness_lifespan


async def health(_request: Request) -> JSONResponse:
    """Liveness: the process answers (readiness, with its dependencies, is /_health)."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


STYLE = {
    ".nav-links > a, .nav-links > form, .nav-links > *": {"margin_inline_end": "0.75em"},
    ".sr-only": {
        "position": "absolute",
        "width": "1px",
        "height": "1px",
        "overflow": "hidden",
        "clip": "rect(0 0 0 0)",
    },
    "@media print": {".no-print, header, footer, nav": {"display": "none"}},
    # Tap targets of at least 44 by 44 CSS pixels on phones (WCAG 2.5.8 asks 24; 44 is
    # what touch guidelines ask).
    "@media (max-width: 640px)": {
        "button, .rt-Button, .rt-IconButton, select, input[type=checkbox], input[type=radio]": {
            "min_height": "44px",
            "min_width": "44px",
        },
        "nav a": {"display": "inline-flex", "align_items": "center", "min_height": "44px"},
    },
    ".skip-link": {"position": "absolute", "left": "-999px", "top": "0"},
    ".skip-link:focus": {
        "left": "1em",
        "top": "1em",
        "z_index": "1000",
        "background": "white",
        "padding": "0.5em",
        "border": "2px solid",
    },
}


def _with_security_headers(asgi: ASGIApp) -> ASGIApp:
    return SecurityHeaders(asgi, get_settings, backend=backend_origin)


configure_logging()
redact_secrets_in_logs()
keep_tabs_of_dead_workers()
release_locks_of_cancelled_events()
take_and_give_back_tab_states_in_one_trip_each()
hear_only_of_locks_waited_for()
forget_state_copies_of_closed_tabs()
fetch_what_events_read_at_once()
let_page_loads_end_their_chain()
time_every_event()
write_socket_updates_with_orjson()

app = rx.App(
    api_transformer=[
        Starlette(
            routes=[
                Route("/healthz", health, methods=["GET"]),
                # Readiness: database, Redis and storage (replaces Reflex's own /_health,
                # which knows nothing of the files).
                *health_routes(get_settings),
                # Login and logout: the only places the session cookie is set or cleared.
                *auth_routes(get_settings),
                # Connecting Microsoft 365: the start of the sign-in and its callback.
                *microsoft_routes(get_settings),
                # Signed links to private files and public assets of the local storage backend.
                *file_routes(lambda: get_storage(get_settings()), get_settings),
            ]
        ),
        # A file upload to a handler that takes none: 400, not Reflex's 500.
        UploadGuard,
        # `/login` served from login.html, not redirected to `/login/` first.
        CanonicalPages,
        # Wraps everything: pages, assets, our routes and Reflex's own.
        _with_security_headers,
        # Outermost: every log line of a request carries its id, and its access line is
        # written with the status the person got.
        RequestIds,
    ],
    style=STYLE,
    head_components=[rx.el.meta(name="referrer", content="no-referrer")],
    backend_exception_handler=on_backend_error,
)
# The scheduler starts here, in each worker, never at import (one leader ticks).
app.register_lifespan_task(scheduler_lifespan)
# With several workers: each says it is alive, so a tab of a killed one keeps its state.
app.register_lifespan_task(liveness_lifespan)
# With several workers: each publishes its figures for the admin's figures page.
app.register_lifespan_task(figures_lifespan)
# At start-up, the app built: what a worker holds for life is frozen out of GC walks.
app.register_lifespan_task(freeze_startup_heap)

check = AuthState.check_session
app.add_page(public.home, route=routes.HOME, title="Health App", on_load=check)
app.add_page(public.about, route=routes.ABOUT, title="About · Health App", on_load=check)
app.add_page(
    auth_pages.login, route=routes.LOGIN, title="Log in · Health App", on_load=LoginState.load
)
app.add_page(
    auth_pages.register,
    route=routes.REGISTER,
    title="Register · Health App",
    on_load=RegisterState.start,
)
app.add_page(
    auth_pages.register_done,
    route=routes.REGISTER_DONE,
    title="Check your email · Health App",
    on_load=ResendState.start,
)
app.add_page(
    auth_pages.apply,
    route=routes.APPLY,
    title="Apply as a doctor · Health App",
    on_load=ApplyState.start,
)
app.add_page(
    auth_pages.confirm,
    route=routes.CONFIRM,
    title="Confirm email · Health App",
    on_load=ConfirmState.confirm_account,
)
app.add_page(
    auth_pages.confirm_email_change,
    route=routes.CONFIRM_EMAIL_CHANGE,
    title="Confirm new email · Health App",
    on_load=ConfirmState.confirm_email_change,
)
app.add_page(
    auth_pages.forgot_password,
    route=routes.FORGOT_PASSWORD,
    title="Forgot password · Health App",
    on_load=ResendState.start,
)
app.add_page(
    auth_pages.reset_password,
    route=routes.RESET_PASSWORD,
    title="New password · Health App",
    on_load=ResetPasswordState.start,
)
app.add_page(
    dashboard_pages.dashboard,
    route=routes.DASHBOARD,
    title="Dashboard · Health App",
    on_load=DashboardState.load,
)
app.add_page(
    booking_pages.find_doctor,
    route=routes.FIND_DOCTOR,
    title="Find a doctor · Health App",
    on_load=FindDoctorState.load,
)
app.add_page(
    booking_pages.doctor_page,
    route=routes.DOCTOR,
    title="Book a visit · Health App",
    on_load=BookingState.load,
)
app.add_page(
    pharmacy_pages.pharmacy_finder,
    route=routes.PHARMACY,
    title="Find a pharmacy · Health App",
    on_load=PharmacyState.load,
)
app.add_page(
    export_pages.export_page,
    route=routes.EXPORT,
    title="Export · Health App",
    on_load=ExportState.load,
)
app.add_page(
    account_pages.appointments,
    route=routes.APPOINTMENTS,
    title="All appointments · Health App",
    on_load=HistoryState.load,
)
app.add_page(
    visit_pages.visit,
    route=routes.VISIT,
    title="Visit · Health App",
    on_load=VisitState.load,
)
app.add_page(
    visit_pages.visit_print,
    route=routes.VISIT_PRINT,
    title="Prescription · Health App",
    on_load=VisitState.load,
)
app.add_page(
    availability_pages.availability,
    route=routes.AVAILABILITY,
    title="Availability · Health App",
    on_load=AvailabilityState.load,
)
app.add_page(
    account_pages.profile,
    route=routes.PROFILE,
    title="Profile · Health App",
    on_load=ProfileState.load,
)
app.add_page(
    admin_pages.applications,
    route=routes.ADMIN_APPLICATIONS,
    title="Doctor applications · Health App",
    on_load=ApplicationsState.load,
)
app.add_page(
    audit_pages.audit_log,
    route=routes.ADMIN_AUDIT,
    title="Audit log · Health App",
    on_load=AuditLogState.load,
)
app.add_page(
    audit_pages.record_access,
    route=routes.MY_RECORD_ACCESS,
    title="Who looked at my record · Health App",
    on_load=RecordAccessState.load,
)
app.add_page(
    admin_pages.users, route=routes.ADMIN_USERS, title="Users · Health App", on_load=UsersState.load
)
app.add_page(
    admin_pages.removed_files,
    route=routes.ADMIN_FILES,
    title="Removed files · Health App",
    on_load=RemovedFilesState.load,
)
app.add_page(
    admin_pages.failed_messages,
    route=routes.ADMIN_MESSAGES,
    title="Failed messages · Health App",
    on_load=FailedMessagesState.load,
)
app.add_page(
    operations_pages.operations,
    route=routes.ADMIN_FIGURES,
    title="Figures · Health App",
    on_load=OperationsState.load,
)
if get_settings().dev_mode:
    app.add_page(
        dev_pages.mailbox,
        route=routes.DEV_MAILBOX,
        title="Mailbox · Health App",
        on_load=MailboxState.load,
    )
app.add_page(public.not_found, route=routes.NOT_FOUND, title="Page not found · Health App")
