"""Admin: the figures page (people connected, events and their time, messages, scheduler)."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import banner
from health_app.components.layout import page
from health_app.state.operations import OperationsState


def _figure(label: str, value: rx.Var, detail: rx.Var | None = None, *, id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray", as_="div"),
            rx.text(value, size="5", weight="bold", id=id, as_="div"),
            rx.text(detail, size="2", as_="div") if detail is not None else rx.fragment(),
            spacing="1",
        ),
        role="group",
        aria_label=label,
    )


def operations() -> rx.Component:
    s = OperationsState
    return page(
        rx.text(
            "What the app is doing now, across every worker. Times are in the clinic's zone.",
        ),
        banner(s.form_error),
        rx.cond(
            s.loaded,
            rx.vstack(
                rx.heading("People and events", as_="h2", size="4"),
                rx.grid(
                    _figure("Connected now", s.connected, s.workers, id="figure-connected"),
                    _figure("Events", s.events, id="figure-events"),
                    _figure("Event time, 95th percentile", s.p95, id="figure-p95"),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                rx.heading("Messages", as_="h2", size="4"),
                rx.grid(
                    _figure(
                        "Waiting to be sent", s.waiting, "Oldest: " + s.oldest, id="figure-waiting"
                    ),
                    _figure("Being sent", s.sending, id="figure-sending"),
                    _figure(
                        "Failed, due in the last 24 hours",
                        s.failed_day,
                        "All failed: " + s.failed,
                        id="figure-failed",
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                rx.link("See the failed messages", href=routes.ADMIN_MESSAGES),
                rx.heading("Scheduler", as_="h2", size="4"),
                rx.cond(
                    s.scheduler_late,
                    rx.callout(
                        "The scheduler has missed its last three ticks: reminders "
                        "are not going out. Check that one scheduler runs (README, Deploying).",
                        color_scheme="red",
                        role="alert",
                        id="scheduler-late",
                    ),
                ),
                rx.grid(
                    _figure("Leader", s.leader, id="figure-leader"),
                    _figure("Last tick", s.last_tick, s.last_tick_result, id="figure-last-tick"),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.flex(
                    rx.button(
                        "Refresh",
                        on_click=s.refresh,
                        loading=s.busy,
                        id="figures-refresh",
                    ),
                    rx.text("Measured ", s.measured_at, size="2", color_scheme="gray"),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
                spacing="3",
                width="100%",
                align="start",
            ),
            rx.text("Loading…", role="status"),
        ),
        heading="Figures",
    )
