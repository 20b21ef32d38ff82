"""Visits on the dashboard, for patients and doctors, with cancel.

Doctors see their day (today unless they filter), what is booked after it, and the weekly
load chart; patients see their upcoming and recent visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services import booking, dashboard
from health_app.services.booking import AppointmentView
from health_app.services.dashboard import WeekLoad
from health_app.services.validation import FieldError, parse_date
from health_app.services.views import Actor
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text
from health_app.state.timefmt import day_label, when

PAGE_SIZE = 10


@dataclass(frozen=True)
class VisitRow:
    id: int
    status: str
    doctor_id: int
    when: str
    with_whom: str
    format: str
    consultation_type: str
    reason: str
    join_url: str
    phone_note: str


def visit_row(v: AppointmentView, *, role: str) -> VisitRow:
    return VisitRow(
        id=v.id,
        status=v.status,
        doctor_id=v.doctor_id,
        when=when(v.starts_at, v.time_zone),
        with_whom=v.doctor_name if role == "patient" else v.patient_name,
        format="Video" if v.format == "video" else "Phone",
        consultation_type=v.consultation_type,
        reason=v.reason if role == "doctor" else "",
        join_url=v.join_url,
        phone_note=v.phone_note,
    )


@dataclass(frozen=True)
class WeekBar:
    label: str
    open: int
    booked: int
    # Bar widths as CSS percentages of the busiest week.
    open_width: str
    booked_width: str


def week_bars(weeks: tuple[WeekLoad, ...]) -> list[WeekBar]:
    widest = max([w.open + w.booked for w in weeks] + [1])
    return [
        WeekBar(
            label=f"Week of {day_label(w.first_day)}",
            open=w.open,
            booked=w.booked,
            open_width=f"{100 * w.open / widest:.1f}%",
            booked_width=f"{100 * w.booked / widest:.1f}%",
        )
        for w in weeks
    ]


class VisitsState(FormMixin, rx.State):
    rows: list[VisitRow] = []
    total: int = 0
    past_rows: list[VisitRow] = []
    cancelling_id: int = 0
    # Doctors only.
    day_rows: list[VisitRow] = []
    day_heading: str = ""
    filter_day: str = ""
    filter_patient: str = ""
    weeks: list[WeekBar] = []

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None or actor.role == "admin":  # an admin's dashboard lists no visits
            return False
        if actor.role == "doctor":
            await self._refresh_doctor(actor)
        else:
            views, total = await runner.call(
                lambda s, cfg, now: booking.list_appointments(
                    s, actor=actor, upcoming=True, now=now, limit=PAGE_SIZE
                )
            )
            self.rows = [visit_row(v, role=actor.role) for v in views]
            self.total = total
        past, _ = await runner.call(
            lambda s, cfg, now: booking.list_appointments(
                s, actor=actor, upcoming=False, now=now, limit=PAGE_SIZE
            )
        )
        self.past_rows = [visit_row(v, role=actor.role) for v in past]
        return True

    async def _refresh_doctor(self, actor: Actor) -> None:
        day = parse_date(self.filter_day, label="Day") if self.filter_day else None
        query = self.filter_patient
        board = await runner.call(
            lambda s, cfg, now: dashboard.doctor_dashboard(
                s, actor=actor, day=day, patient_query=query, now=now
            )
        )
        self.day_rows = [visit_row(v, role="doctor") for v in board.day_visits]
        self.rows = [visit_row(v, role="doctor") for v in board.upcoming]
        self.total = board.upcoming_total
        self.day_heading = (
            f"Today, {day_label(board.day)}"
            if board.day == board.today
            else f"Visits on {day_label(board.day)}"
        )
        self.weeks = week_bars(board.weeks)

    @rx.event
    async def load(self) -> None:
        self._reset_form()
        self.cancelling_id = 0
        self.filter_day = self.filter_patient = ""
        await self._refresh()

    @rx.event
    async def filter_visits(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        """Show one day and/or one patient's visits; both empty shows today and upcoming."""
        if await guard(self, "doctor") is None:
            return login_redirect("expired")
        self._reset_form()
        try:
            parse_date(form_text(form, "day"), label="Day")
        except FieldError as exc:
            self.errors = {"day": str(exc)}
            return None
        previous = (self.filter_day, self.filter_patient)
        self.filter_day = form_text(form, "day").strip()
        self.filter_patient = form_text(form, "patient").strip()
        ok, _ = await self._attempt(self._refresh)
        if not ok:
            self.filter_day, self.filter_patient = previous
        return None

    @rx.event
    async def clear_filter(self) -> None:
        self._reset_form()
        self.filter_day = self.filter_patient = ""
        await self._attempt(self._refresh)

    @rx.event
    async def open_tomorrow(self):  # type: ignore[no-untyped-def]
        """Quick action: publish tomorrow 09:00-17:00 in 15-minute slots."""
        actor = await guard(self, "doctor")
        if actor is None:
            return login_redirect("expired")

        def work(s, cfg, now):  # type: ignore[no-untyped-def]
            return dashboard.open_tomorrow(s, actor=actor, now=now)

        ok, created = await self._attempt(lambda: runner.call(work))
        if ok:
            await self._attempt(self._refresh)
            if created:
                return rx.toast.success(f"{created} slots opened for tomorrow, 09:00–17:00.")
            return rx.toast.info("Tomorrow 09:00–17:00 was already open.")
        return None

    @rx.event
    def open_cancel(self, appointment_id: int) -> None:
        self._reset_form()
        self.cancelling_id = int(appointment_id)

    @rx.event
    def close_cancel(self) -> None:
        self.cancelling_id = 0

    @rx.event
    async def cancel(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        appointment_id, reason = self.cancelling_id, form_text(form, "reason")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: booking.cancel_appointment(
                    s, actor=actor, appointment_id=appointment_id, reason=reason, now=now
                )
            )
        )
        if ok:
            self.cancelling_id = 0
            await self._refresh()
            return rx.toast.success("The visit was cancelled; the other side has been told.")
