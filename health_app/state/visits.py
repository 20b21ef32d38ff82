"""Visits on the dashboard, for patients and doctors, with cancel.

Doctors see their day (today unless they filter), what is booked after it, and the weekly
load chart; patients see their upcoming and recent visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import reflex as rx

from health_app.services.catalogue import visit_status_word
from health_app.services.records import dashboard, dashboard_page
from health_app.services.records.dashboard import WeekLoad
from health_app.services.records.dashboard_page import DashboardPage
from health_app.services.scheduling import booking
from health_app.services.scheduling.booking import AppointmentView
from health_app.services.validation import FieldError, parse_date
from health_app.state.client import toast_info, toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, signed_in
from health_app.state.timefmt import day_label, when

PAGE_SIZE = 10


class VisitRow(TypedDict):  # a dict: see booking.DayChoice
    id: int
    status: str  # the code, for the page's rules ("booked" may be cancelled)
    status_label: str  # the word people read
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
        status_label=visit_status_word(v.status),
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
    cancelled_rows: list[VisitRow] = []
    cancelling_id: int = 0
    # Doctors only.
    day_rows: list[VisitRow] = []
    day_heading: str = ""
    filter_day: str = ""
    filter_patient: str = ""
    weeks: list[WeekBar] = []

    async def _refresh(self) -> DashboardPage | None:
        """The lists, in one unit of work; returns the whole page for `DashboardState`."""
        actor = self._signed_in_actor()
        if actor.role == "admin":  # an admin's dashboard lists no visits
            return None
        page = await self._call(
            dashboard_page.get_dashboard,
            day=parse_date(self.filter_day, label="Day") if self.filter_day else None,
            patient_query=self.filter_patient,
        )
        role = actor.role
        self._set_changed(
            rows=[visit_row(v, role=role) for v in page.upcoming],
            total=page.upcoming_total,
            past_rows=[visit_row(v, role=role) for v in page.past],
            cancelled_rows=[visit_row(v, role=role) for v in page.cancelled],
        )
        board = page.board
        if board is not None:
            self._set_changed(
                day_rows=[visit_row(v, role="doctor") for v in board.day_visits],
                day_heading=(
                    f"Today, {day_label(board.day)}"
                    if board.day == board.today
                    else f"Visits on {day_label(board.day)}"
                ),
                weeks=week_bars(board.weeks),
            )
        return page

    async def _open(self) -> DashboardPage | None:
        """A fresh page open (from `DashboardState.load`): no filter, no dialog."""
        self._reset_form()
        self._set_changed(cancelling_id=0, filter_day="", filter_patient="")
        return await self._refresh()

    @rx.event
    @signed_in("doctor")
    async def filter_visits(self, form: dict[str, Any]) -> None:
        """Show one day and/or one patient's visits; both empty shows today and upcoming."""
        try:
            parse_date(form_text(form, "day"), label="Day")
        except FieldError as exc:
            self.errors = {"day": str(exc)}
            return
        previous = (self.filter_day, self.filter_patient)
        self.filter_day = form_text(form, "day").strip()
        self.filter_patient = form_text(form, "patient").strip()
        try:
            await self._refresh()
        except Exception:
            self.filter_day, self.filter_patient = previous
            raise

    @rx.event
    @signed_in(reason="login")
    async def clear_filter(self) -> None:
        self.filter_day = self.filter_patient = ""
        await self._refresh()

    @rx.event
    @signed_in("doctor")
    async def open_tomorrow(self) -> Events:
        """Quick action: publish tomorrow 09:00-17:00 in 15-minute slots."""
        created = await self._call(dashboard.open_tomorrow)
        await self._refresh()
        if created:
            return toast_success(f"{created} slots opened for tomorrow, 09:00–17:00.")
        return toast_info("Tomorrow 09:00–17:00 was already open.")

    @rx.event
    def open_cancel(self, appointment_id: int) -> None:
        self._reset_form()
        self.cancelling_id = int(appointment_id)

    @rx.event
    def close_cancel(self) -> None:
        self.cancelling_id = 0

    @rx.event
    @signed_in()
    async def cancel(self, form: dict[str, Any]) -> Events:
        await self._call(
            booking.cancel_appointment,
            appointment_id=self.cancelling_id,
            reason=form_text(form, "reason"),
        )
        self.cancelling_id = 0
        await self._refresh()
        return toast_success("The visit was cancelled; the other side has been told.")
