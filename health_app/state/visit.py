"""The visit details page: header, notes, prescriptions, closing; and its print view.

Its load fills the files and messages sections too (`VisitFilesState`, `VisitMessagesState`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.catalogue import visit_status_word
from health_app.services.errors import NotFound
from health_app.services.records import visit_page, visit_record
from health_app.services.records.visit_record import PrescriptionInput, VisitRecord
from health_app.services.scheduling import booking
from health_app.state.client import toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, query_id, signed_in
from health_app.state.timefmt import when
from health_app.state.visit_files import VisitFilesState
from health_app.state.visit_messages import VisitMessagesState
from health_app.state_prefetch import fetched_with

_RX_FIELDS = [f.name for f in fields(PrescriptionInput)]


@dataclass(frozen=True)
class PrescriptionRow:
    id: int
    drug: str
    strength: str
    route: str
    frequency: str
    duration: str
    quantity: str
    refills: str
    instructions: str
    written: str


@dataclass(frozen=True)
class NoteRow:
    version: int
    author: str
    at: str
    body: str
    kind: str  # "Addendum" for a correction written after the visit closed, else ""


@fetched_with(VisitFilesState, VisitMessagesState)
class VisitState(FormMixin, rx.State):
    found: bool = True
    # True from a new tab's first paint, and while another visit than the one on screen
    # loads: the page shows its outline, never the previous visit's record.
    loading: bool = True
    visit_id: int = 0
    when: str = ""
    time_zone: str = ""
    doctor_name: str = ""
    patient_name: str = ""
    visit_format: str = ""
    consultation_type: str = ""
    reason: str = ""
    status: str = ""
    status_label: str = ""
    # Bumped after each saved prescription: a new key gives the form fresh, empty fields.
    rx_form_round: int = 0
    join_url: str = ""
    phone_note: str = ""
    patient_dob: str = ""
    patient_card: str = ""
    viewer_is_doctor: bool = False
    editable: bool = False
    closed: bool = False
    closable: bool = False
    changeable: bool = False
    doctor_id: int = 0
    cancelling: bool = False
    notes: str = ""
    notes_version: int = 0
    history: list[NoteRow] = []
    prescriptions: list[PrescriptionRow] = []
    editing_rx_id: int = 0

    @rx.var
    def editing_values(self) -> dict[str, str]:
        """The prescription being edited, as the form's starting values."""
        for p in self.prescriptions:
            if p.id == self.editing_rx_id:
                return {k: str(getattr(p, k)) for k in _RX_FIELDS}
        return {"route": "oral", "refills": "0"}

    def _show(self, r: VisitRecord) -> None:
        v = r.visit
        self.visit_id, self.when, self.time_zone = v.id, when(v.starts_at, v.time_zone), v.time_zone
        self.doctor_name, self.patient_name = v.doctor_name, v.patient_name
        self.visit_format = "Video" if v.format == "video" else "Phone"
        self.consultation_type, self.reason, self.status = v.consultation_type, v.reason, v.status
        self.status_label = visit_status_word(v.status)
        self.join_url, self.phone_note = v.join_url, v.phone_note
        self.patient_dob = str(r.patient_date_of_birth or "")
        self.patient_card = r.patient_health_card
        self.viewer_is_doctor, self.editable, self.closable = (
            r.viewer_is_doctor,
            r.editable,
            r.closable,
        )
        self.changeable, self.doctor_id = r.changeable, v.doctor_id
        self.closed = r.closed
        self.notes, self.notes_version = r.notes, r.notes_version
        self.history = [
            NoteRow(
                version=n.version,
                author=n.author,
                at=when(n.at, v.time_zone),
                body=n.body,
                kind="Addendum" if n.addendum else "",
            )
            for n in r.notes_history
        ]
        self.prescriptions = [
            PrescriptionRow(
                id=p.id,
                drug=p.drug,
                strength=p.strength,
                route=p.route,
                frequency=p.frequency,
                duration=p.duration,
                quantity=str(p.quantity),
                refills=str(p.refills),
                instructions=p.instructions,
                written=f"{p.written_by}, {when(p.written_at, v.time_zone)}",
            )
            for p in r.prescriptions
        ]

    async def _refresh(self) -> None:
        try:
            record = await self._call(visit_record.get_record, appointment_id=self.visit_id)
        except NotFound:
            self.found = False
            return
        self.found = True
        self._show(record)

    @rx.event
    @ends_page_load
    @signed_in("patient", "doctor", reason="login")
    async def load(self) -> AsyncIterator[None]:
        """The whole page, its files and message panels included, in one service call."""
        requested = query_id(self)
        if requested != self.visit_id:
            self.loading, self.visit_id = True, requested
            yield  # the outline now, the record when it is read
        self.editing_rx_id, self.history, self.prescriptions = 0, [], []
        self.cancelling = False
        files = await self.get_state(VisitFilesState)
        messages = await self.get_state(VisitMessagesState)
        files._clear(self.visit_id)
        messages._clear()
        try:
            page = await self._call(
                visit_page.open_visit,
                appointment_id=self.visit_id,
                client=self.router.session.client_ip,
            )
        except NotFound:
            self.found = False
            return
        finally:
            self.loading = False  # whatever the answer, the outline never stays
        self.found = True
        self._show(page.record)
        files._show(page.files, self.time_zone)
        messages._show(page.messages, self.time_zone, shown=page.record.viewer_is_doctor)

    async def _changed(self, done: str) -> Events:
        self.editing_rx_id = 0
        self.rx_form_round += 1
        await self._refresh()
        return toast_success(done)

    @rx.event
    @signed_in()
    async def save_notes(self, form: dict[str, Any]) -> Events:
        await self._call(
            visit_record.save_notes,
            appointment_id=self.visit_id,
            body=form_text(form, "notes"),
            based_on_version=self.notes_version,
        )
        return await self._changed("Notes saved.")

    @rx.event
    @signed_in()
    async def save_prescription(self, form: dict[str, Any]) -> Events:
        data = PrescriptionInput(**{k: form_text(form, k) for k in _RX_FIELDS})
        if self.editing_rx_id:
            await self._call(
                visit_record.edit_prescription,
                appointment_id=self.visit_id,
                prescription_id=self.editing_rx_id,
                form=data,
            )
            return await self._changed("Prescription updated; the previous version is kept.")
        await self._call(visit_record.add_prescription, appointment_id=self.visit_id, form=data)
        return await self._changed("Prescription added.")

    @rx.event
    def edit_prescription(self, prescription_id: int) -> None:
        self._reset_form()
        self.editing_rx_id = int(prescription_id)

    @rx.event
    def stop_editing(self) -> None:
        self.editing_rx_id = 0

    @rx.event
    @signed_in()
    async def remove_prescription(self, prescription_id: int) -> Events:
        await self._call(
            visit_record.remove_prescription,
            appointment_id=self.visit_id,
            prescription_id=int(prescription_id),
        )
        return await self._changed("Prescription removed.")

    @rx.event
    def open_cancel(self) -> None:
        self._reset_form()
        self.cancelling = True

    @rx.event
    def keep_visit(self) -> None:
        self.cancelling = False

    @rx.event
    @signed_in()
    async def cancel_visit(self, form: dict[str, Any]) -> Events:
        await self._call(
            booking.cancel_appointment,
            appointment_id=self.visit_id,
            reason=form_text(form, "cancel_reason"),
        )
        self.cancelling = False
        return await self._changed("The visit was cancelled; the other side has been told.")

    @rx.event
    @signed_in()
    async def close(self, outcome: str) -> Events:
        await self._call(visit_record.close_visit, appointment_id=self.visit_id, outcome=outcome)
        label = "completed" if outcome == "fulfilled" else "no-show"
        return await self._changed(f"Visit marked {label}.")
