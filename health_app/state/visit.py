"""The visit details page: header, notes, prescriptions, closing; and its print view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import reflex as rx

from health_app.services import visit_record
from health_app.services.errors import NotFound
from health_app.services.views import Actor
from health_app.services.visit_record import PrescriptionInput, VisitRecord
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text
from health_app.state.timefmt import when

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


class VisitState(FormMixin, rx.State):
    found: bool = True
    visit_id: int = 0
    when: str = ""
    time_zone: str = ""
    doctor_name: str = ""
    patient_name: str = ""
    visit_format: str = ""
    consultation_type: str = ""
    reason: str = ""
    status: str = ""
    join_url: str = ""
    phone_note: str = ""
    patient_dob: str = ""
    patient_card: str = ""
    viewer_is_doctor: bool = False
    editable: bool = False
    closable: bool = False
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
        self.join_url, self.phone_note = v.join_url, v.phone_note
        self.patient_dob = str(r.patient_date_of_birth or "")
        self.patient_card = r.patient_health_card
        self.viewer_is_doctor, self.editable, self.closable = (
            r.viewer_is_doctor,
            r.editable,
            r.closable,
        )
        self.notes, self.notes_version = r.notes, r.notes_version
        self.history = [
            NoteRow(version=n.version, author=n.author, at=when(n.at, v.time_zone), body=n.body)
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

    async def _refresh(self) -> bool:
        actor = await guard(self, "patient", "doctor")
        if actor is None:
            return False
        visit_id = self.visit_id
        try:
            record = await runner.call(
                lambda s, cfg, now: visit_record.get_record(
                    s, actor=actor, appointment_id=visit_id, now=now
                )
            )
        except NotFound:
            self.found = False
            return True
        self.found = True
        self._show(record)
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self._reset_form()
        raw = self.router.url.query_parameters.get("id", "")
        self.visit_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0
        self.editing_rx_id, self.history, self.prescriptions = 0, [], []
        if not await self._refresh():
            return login_redirect("login")

    async def _change(self, work: Callable[[Actor], Awaitable[Any]], done: str):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        ok, _ = await self._attempt(lambda: work(actor))
        if ok:
            self.editing_rx_id = 0
            await self._refresh()
            return rx.toast.success(done)
        return None

    @rx.event
    async def save_notes(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        visit_id, version, body = self.visit_id, self.notes_version, form_text(form, "notes")
        return await self._change(
            lambda a: runner.call(
                lambda s, cfg, now: visit_record.save_notes(
                    s,
                    actor=a,
                    appointment_id=visit_id,
                    body=body,
                    based_on_version=version,
                    now=now,
                )
            ),
            "Notes saved.",
        )

    @rx.event
    async def save_prescription(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        visit_id, editing = self.visit_id, self.editing_rx_id
        data = PrescriptionInput(**{k: form_text(form, k) for k in _RX_FIELDS})
        if editing:
            return await self._change(
                lambda a: runner.call(
                    lambda s, cfg, now: visit_record.edit_prescription(
                        s,
                        actor=a,
                        appointment_id=visit_id,
                        prescription_id=editing,
                        form=data,
                        now=now,
                    )
                ),
                "Prescription updated; the previous version is kept.",
            )
        return await self._change(
            lambda a: runner.call(
                lambda s, cfg, now: visit_record.add_prescription(
                    s, actor=a, appointment_id=visit_id, form=data, now=now
                )
            ),
            "Prescription added.",
        )

    @rx.event
    def edit_prescription(self, prescription_id: int) -> None:
        self._reset_form()
        self.editing_rx_id = int(prescription_id)

    @rx.event
    def stop_editing(self) -> None:
        self.editing_rx_id = 0

    @rx.event
    async def remove_prescription(self, prescription_id: int):  # type: ignore[no-untyped-def]
        visit_id, rx_id = self.visit_id, int(prescription_id)
        return await self._change(
            lambda a: runner.call(
                lambda s, cfg, now: visit_record.remove_prescription(
                    s, actor=a, appointment_id=visit_id, prescription_id=rx_id, now=now
                )
            ),
            "Prescription removed.",
        )

    @rx.event
    async def close(self, outcome: str):  # type: ignore[no-untyped-def]
        visit_id = self.visit_id
        label = "completed" if outcome == "fulfilled" else "no-show"
        return await self._change(
            lambda a: runner.call(
                lambda s, cfg, now: visit_record.close_visit(
                    s, actor=a, appointment_id=visit_id, outcome=outcome, now=now
                )
            ),
            f"Visit marked {label}.",
        )
