"""The authorization matrix: every event handler and HTTP route, called by everyone.

Each browser-callable handler is called as patient A, patient B, doctor A, doctor B, an
admin and an anonymous visitor, aimed at ANOTHER subject's objects (doctor B's visit when
acting as doctor A, patient A's prescription when acting as patient B, a hidden doctor
applicant, ...). Every call must leave no foreign data in what the browser receives (state
vars and returned events, downloads included). On top of that, the matrix says per actor:

- DENIED: the service refused: an audit row with outcome "denied" for this actor, and not
  one business row changed.
- REDIRECT: the page guard sent the visitor to the login page before any service ran;
  nothing changed.
- UNCHANGED: nothing to do for this actor (a form field, a silent no-op, a business refusal
  such as "that time was just taken"); nothing changed.
- OWN: the actor's own data: only rows the actor owns may change.
- PERMITTED: an admin action on someone else's account (approve, deactivate).

A handler or route the app gains without a matrix entry fails `test_matrix_covers_*`; so does
an entry for a handler that no longer exists. The owner controls at the end run the same
calls on the caller's own objects and must succeed, so a refusal above means something.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import State
from sqlmodel import Session

from health_app import config, db
from health_app.models import OutboxMessage, OutboxStatus
from health_app.services.accounts import sessions
from health_app.services.records.export import COLUMNS
from health_app.state.admin import ApplicationsState, UsersState
from health_app.state.admin_files import RemovedFilesState
from health_app.state.admin_messages import FailedMessagesState
from health_app.state.audit_pages import AuditLogState, RecordAccessState
from health_app.state.auth import AuthState
from health_app.state.availability import AvailabilityState
from health_app.state.booking import BookingState
from health_app.state.client import ClientState
from health_app.state.dashboard import DashboardState
from health_app.state.email_links import ConfirmState, ResendState, ResetPasswordState
from health_app.state.export import ExportState
from health_app.state.find import FindDoctorState
from health_app.state.forms import field_name
from health_app.state.history import HistoryState
from health_app.state.login import LoginState
from health_app.state.mailbox import MailboxState
from health_app.state.operations import OperationsState
from health_app.state.pharmacy import PharmacyState
from health_app.state.profile import ProfileState, SecurityState
from health_app.state.registration import ApplyState, RegisterState
from health_app.state.visit import VisitState
from health_app.state.visit_files import VisitFilesState
from health_app.state.visit_messages import VisitMessagesState
from health_app.state.visits import VisitsState
from tests.factories import doctor_form
from tests.state.authz_world import (
    ACTORS,
    VISIBLE,
    Pair,
    Result,
    Upload,
    World,
    app_state_classes,
    audit_high_water,
    audit_since,
    call_handler,
    leaks,
    other_side,
    seed_world,
    side_of,
    snapshot,
    visible_text,
)

DENIED, REDIRECT, UNCHANGED, OWN, PERMITTED = "denied", "redirect", "unchanged", "own", "permitted"
GENERIC_FAILURE = "Something went wrong on our side"
# Reflex's own handlers on every state, not written by us.
BUILTIN_HANDLERS = {"setvar"}
LINK_SECRET = "matrix-link-secret"


@dataclass(frozen=True)
class Step:
    """One event as the browser would send it, with the state vars it relies on preset
    (a forged client can put any value there) and the page URL for on_load handlers."""

    state: type
    handler: str
    args: tuple[Any, ...] = ()
    preset: Mapping[str, Any] = field(default_factory=dict)
    url: str = ""


# (world, target pair, caller's own pair) -> the steps. The matrix targets the other pair;
# the owner controls target the caller's own pair.
Case = Callable[[World, Pair, Pair], list[Step]]
Check = Callable[[World, str, Any, Result], None]


@dataclass(frozen=True)
class Entry:
    why: str
    expect: Mapping[str, str]
    cases: Mapping[str, Case]
    # Business tables a public call may legitimately touch for someone else.
    may_change: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    check: Check | None = None
    # Owner controls, run on the first case with the caller's own objects:
    # (actor, "changes" or a marker group that must then be visible).
    control: tuple[tuple[str, str], ...] = ()


def who(
    default: str,
    *,
    patients: str | None = None,
    doctors: str | None = None,
    **per: str,
) -> dict[str, str]:
    out = {a: default for a in ACTORS}
    for group, value in (("patient_", patients), ("doctor_", doctors)):
        if value is not None:
            out.update({a: value for a in ACTORS if a.startswith(group)})
    out.update(per)
    return out


def one(state: type, handler: str, *args: Any, url: str = "", **preset: Any) -> Case:
    return lambda w, t, m: [Step(state, handler, args, preset, url)]


def case(fn: Case) -> Case:
    """Marks a lambda as a Case, for readers and the type checker."""
    return fn


# The common shapes.
SERVICE_DENIES = who(DENIED, anonymous=REDIRECT)  # any signed-in caller reaches the service
# Admin pages: everyone else is sent to the login page (an audited role refusal), as on
# every role-guarded page; the services refuse them again (tests/services).
ADMIN_ONLY = who(REDIRECT, admin=OWN)
ADMIN_ACTION = who(REDIRECT, admin=PERMITTED)
DOCTOR_PAGE = who(REDIRECT, doctors=OWN)  # guard(self, "doctor") in the state
CLINICAL_LIST = who(REDIRECT, patients=OWN, doctors=OWN)
SIGNED_IN_OWN = who(OWN, anonymous=REDIRECT)
EVERYONE_UNCHANGED = who(UNCHANGED)
EVERYONE_OWN = who(OWN)

RX_FORM = {
    "drug": "Hijackamycin",
    "strength": "1 g",
    "route": "oral",
    "frequency": "daily",
    "duration": "1 day",
    "quantity": "1",
    "refills": "0",
    "instructions": "",
}
BOOK_FORM = {"format": "video", "consultation_type": "general", "reason": "Hijack attempt"}


def _email(w: World, t: Pair, role: str) -> str:
    return w.emails[f"{role}_{t.side}"]


def _name(w: World, t: Pair) -> str:
    return w.names[f"patient_{t.side}"]


def _apply_form(email: str) -> dict[str, Any]:
    f = doctor_form(email=email)
    form: dict[str, Any] = {
        k: v for k, v in vars(f).items() if k not in {"consultation_types", "languages"}
    }
    form.update({field_name("ctype_", c): True for c in f.consultation_types})
    form.update({field_name("lang_", c): True for c in f.languages})
    return form


def _export_form(patient: str = "") -> dict[str, Any]:
    return {
        "file_format": "csv",
        "patient_name": patient,
        **{f"col_{c}": True for c in COLUMNS},
    }


# ---------------------------------------------------------------------------------------
# Extra checks for single entries


def _others_still_signed_in(w: World, actor: str, root: Any, _: Result) -> None:
    with Session(db.get_engine()) as s:
        for other, token in w.tokens.items():
            if other != actor:
                found = sessions.resolve_session(
                    s, token=token, settings=config.get_settings(), now=datetime.now(UTC)
                )
                assert found is not None, f"logout as {actor} ended {other}'s session"


def _hidden_applicant_not_found(w: World, actor: str, root: Any, _: Result) -> None:
    assert _sub(root, BookingState).found is False


def _mailbox_closed(w: World, actor: str, root: Any, _: Result) -> None:
    mb = _sub(root, MailboxState)
    assert mb.rows == [] and mb.available is False


def _no_visit_shown(w: World, actor: str, root: Any, _: Result) -> None:
    """Nothing of the visit page: record, files, or the doctor's message panel."""
    v = _sub(root, VisitState)
    assert v.notes == "" and v.prescriptions == [] and v.patient_card == ""
    assert _sub(root, VisitFilesState).files == []
    _no_messages_shown(w, actor, root, _)


def _no_file_link(w: World, actor: str, root: Any, result: Result) -> None:
    files = _sub(root, VisitFilesState)
    assert files.preview_url == "" and files.preview_name == ""
    assert "/_files/private/" not in repr(result.events), "a link was sent"


def _nothing_stored(w: World, actor: str, root: Any, _: Result) -> None:
    files = _sub(root, VisitFilesState)
    assert files.uploading is False and files.files == []
    stored = w.blobs(config.get_settings().files_dir)
    assert stored == w.blobs(w.files_dir), f"a refused upload left blobs: {stored}"


def _no_removed_files_unless_admin(w: World, actor: str, root: Any, _: Result) -> None:
    if actor != "admin":
        assert _sub(root, RemovedFilesState).rows == []


def _mailbox_closed_no_download(w: World, actor: str, root: Any, result: Result) -> None:
    _mailbox_closed(w, actor, root, result)
    assert "text/calendar" not in repr(result.events), "a calendar file was sent"


def _no_messages_shown(w: World, actor: str, root: Any, _: Result) -> None:
    panel = _sub(root, VisitMessagesState)
    assert panel.rows == [] and panel.shown is False


def _no_failed_messages_unless_admin(w: World, actor: str, root: Any, _: Result) -> None:
    if actor != "admin":
        assert _sub(root, FailedMessagesState).rows == []


def _no_figures_unless_admin(w: World, actor: str, root: Any, _: Result) -> None:
    figures = _sub(root, OperationsState)
    if actor != "admin":
        assert not figures.loaded and figures.waiting == figures.leader == ""
    else:
        assert figures.loaded and figures.waiting


def _retried_only_by_admin(w: World, actor: str, root: Any, _: Result) -> None:
    target = w.pairs[other_side(actor)].failed_message
    with Session(db.get_engine()) as s:
        row = s.get(OutboxMessage, target)
        assert row is not None
        want = OutboxStatus.PENDING if actor == "admin" else OutboxStatus.FAILED
        assert row.status == want, f"message {target} is {row.status} after {actor}'s retry"


def _photo() -> Any:
    """A fresh upload each call (the handler reads it)."""
    import io

    from PIL import Image
    from reflex_components_core.core._upload import UploadFile

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 90, 160)).save(out, "PNG")
    return UploadFile(file=io.BytesIO(out.getvalue()), path=Path("me.png"), size=out.tell())


# The file a forged upload tries to plant: a valid PDF, so only authorization can stop it.
PLANTED = Upload((("Planted-by-someone-else.pdf", b"%PDF-1.4\n% planted\n%%EOF\n"),))


# ---------------------------------------------------------------------------------------
# The matrix: "StateClass.handler" -> who may do what, and how the call is aimed.

MATRIX: dict[str, Entry] = {
    # --- session ---
    "AuthState.check_session": Entry(
        "re-resolves the caller's own cookie; takes no ids",
        EVERYONE_OWN,
        {"own session": one(AuthState, "check_session")},
    ),
    "LoginState.load": Entry(
        "public login page", EVERYONE_OWN, {"open the page": one(LoginState, "load")}
    ),
    "ClientState.toast": Entry(
        "a message for the caller's own tab, shown as text; carries no ids",
        EVERYONE_UNCHANGED,
        {"a toast": one(ClientState, "toast", "success", "Saved.")},
    ),
    "ClientState.clear_files": Entry(
        "clears a file picker in the caller's own tab",
        EVERYONE_UNCHANGED,
        {"clear": one(ClientState, "clear_files", "visit-upload")},
    ),
    # --- registration and email links (public) ---
    "RegisterState.start": Entry(
        "public form reset", EVERYONE_UNCHANGED, {"reset": one(RegisterState, "start")}
    ),
    "RegisterState.back": Entry(
        "public form navigation", EVERYONE_UNCHANGED, {"back": one(RegisterState, "back")}
    ),
    "RegisterState.submit_step": Entry(
        "public; step 1 only validates, nothing is written before the last step",
        EVERYONE_UNCHANGED,
        {
            "step 1 with another patient's name": case(
                lambda w, t, m: [
                    Step(
                        RegisterState,
                        "submit_step",
                        (
                            {
                                "first_name": "Eve",
                                "last_name": "Mallory",
                                "date_of_birth": "1990-01-01",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "ApplyState.start": Entry(
        "public form reset", EVERYONE_UNCHANGED, {"reset": one(ApplyState, "start")}
    ),
    "ApplyState.submit": Entry(
        "public; an application with another doctor's email changes nothing and says nothing",
        EVERYONE_UNCHANGED,
        {
            "other doctor's email": case(
                lambda w, t, m: [Step(ApplyState, "submit", (_apply_form(_email(w, t, "doctor")),))]
            )
        },
    ),
    "ResendState.start": Entry(
        "public form reset", EVERYONE_UNCHANGED, {"reset": one(ResendState, "start")}
    ),
    "ResendState.resend_confirmation": Entry(
        "public; same answer for every address, an active account gets nothing",
        EVERYONE_UNCHANGED,
        {
            "other patient's email": case(
                lambda w, t, m: [
                    Step(ResendState, "resend_confirmation", ({"email": _email(w, t, "patient")},))
                ]
            )
        },
    ),
    "ResendState.request_reset": Entry(
        "public forgot-password: a link is mailed to the owner only (an email_token row)",
        EVERYONE_UNCHANGED,
        {
            "other patient's email": case(
                lambda w, t, m: [
                    Step(ResendState, "request_reset", ({"email": _email(w, t, "patient")},))
                ]
            )
        },
        may_change=("email_token",),
    ),
    "ResetPasswordState.start": Entry(
        "public page", EVERYONE_UNCHANGED, {"open": one(ResetPasswordState, "start")}
    ),
    "ResetPasswordState.submit": Entry(
        "public; only a valid emailed token changes a password",
        EVERYONE_UNCHANGED,
        {
            "forged token": one(
                ResetPasswordState,
                "submit",
                {
                    "password": "new-secret-password-77",
                    "password_confirm": "new-secret-password-77",
                },
                url="/reset-password?token=forged-token-value",
            )
        },
    ),
    "ConfirmState.confirm_account": Entry(
        "public; only a valid emailed token confirms",
        EVERYONE_UNCHANGED,
        {"forged token": one(ConfirmState, "confirm_account", url="/confirm?token=forged")},
    ),
    "ConfirmState.confirm_email_change": Entry(
        "public; only a valid emailed token changes an address",
        EVERYONE_UNCHANGED,
        {
            "forged token": one(
                ConfirmState, "confirm_email_change", url="/confirm-email-change?token=forged"
            )
        },
    ),
    "MailboxState.load": Entry(
        "development tool: the service refuses outside DEV_MODE (checked here with it off)",
        EVERYONE_UNCHANGED,
        {"dev mode off": one(MailboxState, "load")},
        env={"DEV_MODE": "false"},
        check=_mailbox_closed,
    ),
    "MailboxState.load#remote": Entry(
        "development tool: with DEV_MODE on it answers only a socket from this machine; "
        "the matrix's sockets name no loopback address",
        EVERYONE_UNCHANGED,
        {"dev mode on, another machine": one(MailboxState, "load")},
        env={"DEV_MODE": "true"},
        check=_mailbox_closed,
    ),
    "MailboxState.filter": Entry(
        "development tool: the service refuses outside DEV_MODE (checked here with it off)",
        EVERYONE_UNCHANGED,
        {
            "other patient's address, dev mode off": case(
                lambda w, t, m: [
                    Step(MailboxState, "filter", ({"recipient": _email(w, t, "patient")},))
                ]
            )
        },
        env={"DEV_MODE": "false"},
        check=_mailbox_closed,
    ),
    "MailboxState.download_attachment": Entry(
        "development tool: the calendar file of a message already shown; nothing is shown "
        "outside DEV_MODE, so nothing can be downloaded",
        EVERYONE_UNCHANGED,
        {
            "a booking email's .ics, dev mode off": case(
                lambda w, t, m: [
                    Step(MailboxState, "load"),
                    Step(MailboxState, "download_attachment", (1,)),
                ]
            )
        },
        env={"DEV_MODE": "false"},
        check=_mailbox_closed_no_download,
    ),
    # --- finding and booking ---
    "FindDoctorState.load": Entry(
        "public search of approved doctors",
        EVERYONE_UNCHANGED,
        {"load": one(FindDoctorState, "load")},
    ),
    "FindDoctorState.search": Entry(
        "public search; patients and applicants never appear",
        EVERYONE_UNCHANGED,
        {
            "another patient's name": case(
                lambda w, t, m: [Step(FindDoctorState, "search", ({"name": _name(w, t)},))]
            ),
            "the hidden applicant's name": one(FindDoctorState, "search", {"name": "Pendingworth"}),
            "a made-up day": one(FindDoctorState, "search", {"on": "2026-02-31"}),
        },
    ),
    "FindDoctorState.clear_filters": Entry(
        "public search without filters: approved doctors with free time only",
        EVERYONE_UNCHANGED,
        {"clear": one(FindDoctorState, "clear_filters")},
    ),
    "FindDoctorState.go_to_page": Entry(
        "public search pages", EVERYONE_UNCHANGED, {"page 2": one(FindDoctorState, "go_to_page", 2)}
    ),
    "BookingState.load": Entry(
        "public doctor page; unapproved applicants are not found",
        EVERYONE_UNCHANGED,
        {
            "hidden applicant, other's visit to move": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "load",
                        url=f"/doctor?doctor={w.pending_doctor}&reschedule={t.next_visit}",
                    )
                ]
            ),
        },
        check=_hidden_applicant_not_found,
    ),
    "BookingState.choose_day": Entry(
        "public free times of an approved doctor (no patient data)",
        EVERYONE_UNCHANGED,
        {
            "other doctor's booked day": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "choose_day",
                        (w.next_day.isoformat(),),
                        {"doctor_id": t.doctor_id, "time_zone": "America/Toronto"},
                    )
                ]
            ),
            "hidden applicant": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "choose_day",
                        (w.next_day.isoformat(),),
                        {"doctor_id": w.pending_doctor, "time_zone": "America/Toronto"},
                    )
                ]
            ),
        },
    ),
    "BookingState.choose_time": Entry(
        "form field only; book() re-checks the slot in the service",
        EVERYONE_UNCHANGED,
        {
            "other's booked slot": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "choose_time",
                        (t.booked_slot, "09:00"),
                        {"day": w.next_day.isoformat()},
                    )
                ]
            )
        },
    ),
    "BookingState.book": Entry(
        "moving someone else's visit is refused; a taken slot is 'just taken'",
        SERVICE_DENIES,
        {
            "move the other patient's visit": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "book",
                        (BOOK_FORM,),
                        {
                            "doctor_id": t.doctor_id,
                            "reschedule_id": t.next_visit,
                            "slot_id": t.open_slot,
                            "day": w.next_day.isoformat(),
                            "time_zone": "America/Toronto",
                        },
                    )
                ]
            ),
        },
        control=(("patient_a", "changes"),),
    ),
    "BookingState.book#taken": Entry(
        "booking the other patient's slot: patients lose the race, staff cannot book at all",
        who(DENIED, patients=UNCHANGED, anonymous=REDIRECT),
        {
            "book the other patient's booked slot": case(
                lambda w, t, m: [
                    Step(
                        BookingState,
                        "book",
                        (BOOK_FORM,),
                        {
                            "doctor_id": t.doctor_id,
                            "reschedule_id": 0,
                            "slot_id": t.booked_slot,
                            "day": w.next_day.isoformat(),
                            "time_zone": "America/Toronto",
                        },
                    )
                ]
            ),
        },
    ),
    # --- the visit record ---
    "VisitState.load": Entry(
        "reads one visit by id from the URL, with its files and (for its doctor) what was "
        "sent about it: only its patient and doctor",
        who(DENIED, admin=REDIRECT, anonymous=REDIRECT),
        {
            "other's past visit": case(
                lambda w, t, m: [Step(VisitState, "load", url=f"/visit?id={t.past_visit}")]
            ),
            "a visit that does not exist": one(VisitState, "load", url="/visit?id=999999"),
        },
        check=_no_visit_shown,
        control=(
            ("doctor_a", "patient_a.private"),
            ("patient_a", "visit_a"),
            ("doctor_a", "visit_a"),
            ("doctor_a", "patient_a.identity"),
        ),
    ),
    "VisitState.save_notes": Entry(
        "writes notes of the visit in state.visit_id: only its doctor",
        SERVICE_DENIES,
        {
            "other's visit": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "save_notes",
                        ({"notes": "Overwritten by someone else"},),
                        {"visit_id": t.past_visit, "notes_version": 1},
                    )
                ]
            )
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitState.save_prescription": Entry(
        "adds or replaces a prescription of state.visit_id: only its doctor",
        SERVICE_DENIES,
        {
            "add to other's visit": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "save_prescription",
                        (RX_FORM,),
                        {"visit_id": t.past_visit, "editing_rx_id": 0},
                    )
                ]
            ),
            "edit other's prescription": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "save_prescription",
                        (RX_FORM,),
                        {"visit_id": t.past_visit, "editing_rx_id": t.prescription},
                    )
                ]
            ),
            "own visit, other's prescription": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "save_prescription",
                        (RX_FORM,),
                        {"visit_id": m.past_visit, "editing_rx_id": t.prescription},
                    )
                ]
            ),
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitState.remove_prescription": Entry(
        "removes a prescription of state.visit_id: only its doctor",
        SERVICE_DENIES,
        {
            "other's visit": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "remove_prescription",
                        (t.prescription,),
                        {"visit_id": t.past_visit},
                    )
                ]
            ),
            "own visit, other's prescription": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "remove_prescription",
                        (t.prescription,),
                        {"visit_id": m.past_visit},
                    )
                ]
            ),
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitState.close": Entry(
        "marks state.visit_id completed: only its doctor",
        SERVICE_DENIES,
        {
            "other's visit": case(
                lambda w, t, m: [
                    Step(VisitState, "close", ("fulfilled",), {"visit_id": t.past_visit})
                ]
            )
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitState.cancel_visit": Entry(
        "cancels the visit in state.visit_id from its page: only its patient or doctor",
        SERVICE_DENIES,
        {
            "other's visit": case(
                lambda w, t, m: [
                    Step(
                        VisitState,
                        "cancel_visit",
                        ({"cancel_reason": "Not mine to cancel"},),
                        {"visit_id": t.next_visit},
                    )
                ]
            )
        },
        control=(("patient_a", "changes"), ("doctor_a", "changes")),
    ),
    "VisitState.open_cancel": Entry(
        "opens the cancel form only", EVERYONE_UNCHANGED, {"open": one(VisitState, "open_cancel")}
    ),
    "VisitState.keep_visit": Entry(
        "closes the cancel form only", EVERYONE_UNCHANGED, {"keep": one(VisitState, "keep_visit")}
    ),
    "VisitState.edit_prescription": Entry(
        "form field only; save_prescription re-checks the id in the service",
        EVERYONE_UNCHANGED,
        {
            "other's prescription": case(
                lambda w, t, m: [Step(VisitState, "edit_prescription", (t.prescription,))]
            )
        },
    ),
    "VisitState.stop_editing": Entry(
        "form field only", EVERYONE_UNCHANGED, {"stop": one(VisitState, "stop_editing")}
    ),
    # --- files on a visit (the page's visit id and a file id are whatever the client sends) ---
    "VisitFilesState.on_progress": Entry(
        "the upload progress bar only",
        EVERYONE_UNCHANGED,
        {"half way": one(VisitFilesState, "on_progress", {"progress": 0.5})},
    ),
    "VisitFilesState.upload": Entry(
        "streams files into the visit in state.visit_id: only its patient and doctor; a "
        "refused upload stores nothing (background handler, run through a StateProxy)",
        SERVICE_DENIES,
        {
            "into other's visit": case(
                lambda w, t, m: [
                    Step(VisitFilesState, "upload", (PLANTED,), {"visit_id": t.past_visit})
                ]
            ),
            "into a visit that does not exist": one(
                VisitFilesState, "upload", PLANTED, visit_id=999999
            ),
        },
        check=_nothing_stored,
        control=(("patient_a", "changes"), ("doctor_a", "changes")),
    ),
    "VisitFilesState.preview": Entry(
        "a short-lived inline link to one active file of a visit the caller is party to",
        who(DENIED, anonymous=UNCHANGED),
        {
            "other's file on its visit page": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "preview",
                        (t.patient_file,),
                        {"visit_id": t.past_visit},
                    )
                ]
            ),
            "other's file from own visit page": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "preview",
                        (t.doctor_file,),
                        {"visit_id": m.past_visit},
                    )
                ]
            ),
        },
        check=_no_file_link,
        control=(("patient_a", "visit_a"), ("doctor_a", "visit_a")),
    ),
    "VisitFilesState.preview#hidden": Entry(
        "a hidden file is off the visit for everyone, its own patient and doctor included",
        who(DENIED, anonymous=UNCHANGED),
        {
            "own visit's hidden file": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "preview",
                        (m.hidden_file,),
                        {"visit_id": m.past_visit},
                    )
                ]
            )
        },
        check=_no_file_link,
    ),
    "VisitFilesState.download": Entry(
        "a short-lived download link to one active file of a visit the caller is party to",
        who(DENIED, anonymous=UNCHANGED),
        {
            "other's file on its visit page": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "download",
                        (t.patient_file,),
                        {"visit_id": t.past_visit},
                    )
                ]
            ),
            "other's file from own visit page": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "download",
                        (t.doctor_file,),
                        {"visit_id": m.past_visit},
                    )
                ]
            ),
            "own visit's hidden file": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "download",
                        (m.hidden_file,),
                        {"visit_id": m.past_visit},
                    )
                ]
            ),
        },
        check=_no_file_link,
        control=(("patient_a", "visit_a"), ("doctor_a", "visit_a")),
    ),
    "VisitFilesState.close_preview": Entry(
        "form field only", EVERYONE_UNCHANGED, {"close": one(VisitFilesState, "close_preview")}
    ),
    "VisitFilesState.ask_delete": Entry(
        "form field only; delete re-checks the id in the service",
        EVERYONE_UNCHANGED,
        {
            "other's file": case(
                lambda w, t, m: [Step(VisitFilesState, "ask_delete", (t.patient_file,))]
            )
        },
    ),
    "VisitFilesState.keep_file": Entry(
        "form field only", EVERYONE_UNCHANGED, {"keep": one(VisitFilesState, "keep_file")}
    ),
    "VisitFilesState.delete": Entry(
        "deletes state.confirm_delete_id: only the person who uploaded it",
        SERVICE_DENIES,
        {
            "other patient's upload": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "delete",
                        preset={"visit_id": t.past_visit, "confirm_delete_id": t.patient_file},
                    )
                ]
            ),
            "other doctor's upload, from own visit page": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "delete",
                        preset={"visit_id": m.past_visit, "confirm_delete_id": t.doctor_file},
                    )
                ]
            ),
        },
        control=(("patient_a", "changes"),),
    ),
    "VisitFilesState.delete#patient's file": Entry(
        "on the caller's own visit: the patient deletes their upload, the doctor may not",
        who(DENIED, patients=OWN, anonymous=REDIRECT),
        {
            "own visit, the patient's upload": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "delete",
                        preset={"visit_id": m.past_visit, "confirm_delete_id": m.patient_file},
                    )
                ]
            )
        },
    ),
    "VisitFilesState.delete#doctor's file": Entry(
        "on the caller's own visit: the doctor deletes their upload, the patient may not",
        who(DENIED, doctors=OWN, anonymous=REDIRECT),
        {
            "own visit, the doctor's upload": case(
                lambda w, t, m: [
                    Step(
                        VisitFilesState,
                        "delete",
                        preset={"visit_id": m.past_visit, "confirm_delete_id": m.doctor_file},
                    )
                ]
            )
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitFilesState.hide": Entry(
        "hides a file of a visit: only the visit's doctor",
        SERVICE_DENIES,
        {
            "other's file": case(
                lambda w, t, m: [
                    Step(VisitFilesState, "hide", (t.patient_file,), {"visit_id": t.past_visit})
                ]
            ),
            "other's file, from own visit page": case(
                lambda w, t, m: [
                    Step(VisitFilesState, "hide", (t.doctor_file,), {"visit_id": m.past_visit})
                ]
            ),
        },
        control=(("doctor_a", "changes"),),
    ),
    "VisitFilesState.hide#own visit": Entry(
        "on the caller's own visit: the doctor hides, the patient may not (not even own upload)",
        who(DENIED, doctors=OWN, anonymous=REDIRECT),
        {
            "own visit, the patient's upload": case(
                lambda w, t, m: [
                    Step(VisitFilesState, "hide", (m.patient_file,), {"visit_id": m.past_visit})
                ]
            )
        },
    ),
    # --- dashboards and lists ---
    "VisitsState.filter_visits": Entry(
        "doctor's own day / patient filter: another patient's name or day finds nothing",
        DOCTOR_PAGE,
        {
            "other patient's name and day": case(
                lambda w, t, m: [
                    Step(
                        VisitsState,
                        "filter_visits",
                        ({"day": w.next_day.isoformat(), "patient": _name(w, t)},),
                    )
                ]
            ),
            "other's day": case(
                lambda w, t, m: [
                    Step(VisitsState, "filter_visits", ({"day": w.next_day.isoformat()},))
                ]
            ),
        },
    ),
    "VisitsState.clear_filter": Entry(
        "the caller's own lists again",
        who(UNCHANGED, patients=OWN, doctors=OWN),
        {"clear": one(VisitsState, "clear_filter")},
    ),
    "VisitsState.open_tomorrow": Entry(
        "publishes slots in the calling doctor's own calendar",
        DOCTOR_PAGE,
        {"quick action": one(VisitsState, "open_tomorrow")},
    ),
    "VisitsState.open_cancel": Entry(
        "form field only; cancel re-checks the id in the service",
        EVERYONE_UNCHANGED,
        {
            "other's visit": case(
                lambda w, t, m: [Step(VisitsState, "open_cancel", (t.next_visit,))]
            )
        },
    ),
    "VisitsState.close_cancel": Entry(
        "form field only", EVERYONE_UNCHANGED, {"close": one(VisitsState, "close_cancel")}
    ),
    "VisitsState.cancel": Entry(
        "cancels state.cancelling_id: only its patient or doctor",
        SERVICE_DENIES,
        {
            "other's visit": case(
                lambda w, t, m: [
                    Step(
                        VisitsState,
                        "cancel",
                        ({"reason": "Not mine to cancel"},),
                        {"cancelling_id": t.next_visit},
                    )
                ]
            )
        },
        control=(("patient_a", "changes"), ("doctor_a", "changes")),
    ),
    "HistoryState.load": Entry(
        "the caller's own visits, past included",
        CLINICAL_LIST,
        {"own history": one(HistoryState, "load")},
    ),
    "HistoryState.filter": Entry(
        "the caller's own visits, filtered",
        CLINICAL_LIST,
        {
            "other's visit day": case(
                lambda w, t, m: [
                    Step(
                        HistoryState,
                        "filter",
                        (
                            {
                                "status": "",
                                "first": (w.next_day - timedelta(days=7)).isoformat(),
                                "last": w.next_day.isoformat(),
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "HistoryState.go_to_page": Entry(
        "the caller's own visits, another page",
        CLINICAL_LIST,
        {"page 2": one(HistoryState, "go_to_page", 2)},
    ),
    "DashboardState.load": Entry(
        "role figures of the caller (own counters, own pharmacy, pending count for admins) "
        "and the caller's own visits (services filter by the actor; staff see none)",
        SIGNED_IN_OWN,
        {"own dashboard": one(DashboardState, "load")},
        control=(("patient_a", "visit_a"), ("doctor_a", "visit_a")),
    ),
    "DashboardState.count_range": Entry(
        "the calling doctor's own slot counters; others are refused and audited",
        who(DENIED, doctors=OWN, anonymous=UNCHANGED),
        {
            "other doctor's busy day": case(
                lambda w, t, m: [
                    Step(
                        DashboardState,
                        "count_range",
                        (
                            {
                                "count_first": w.next_day.isoformat(),
                                "count_last": w.next_day.isoformat(),
                            },
                        ),
                    )
                ]
            )
        },
    ),
    # --- availability (the calling doctor's own calendar; days overlap the other doctor's) ---
    "AvailabilityState.load": Entry(
        "the calling doctor's own calendar", DOCTOR_PAGE, {"load": one(AvailabilityState, "load")}
    ),
    "AvailabilityState.cancel_template": Entry(
        "forgets the weekly hours not saved yet (this tab's own)",
        EVERYONE_UNCHANGED,
        {"forget": one(AvailabilityState, "cancel_template")},
    ),
    "AvailabilityState.confirm_template": Entry(
        "saves the calling doctor's own weekly hours asked for just before in this tab",
        DOCTOR_PAGE,
        {
            "hours checked first": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "save_template",
                        (
                            {
                                **{f"day_{i}": True for i in range(5)},
                                "start_1": "13:00",
                                "end_1": "14:00",
                                "valid_from": w.next_day.isoformat(),
                                "slot_minutes": "15",
                            },
                        ),
                    ),
                    Step(AvailabilityState, "confirm_template"),
                ]
            )
        },
        control=(("doctor_a", "changes"),),
    ),
    "AvailabilityState.save_template": Entry(
        "shows what new weekly hours would change in the calling doctor's own calendar "
        "(nothing changes before confirm_template)",
        DOCTOR_PAGE,
        {
            "weekdays from the other doctor's busy day": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "save_template",
                        (
                            {
                                **{f"day_{i}": True for i in range(5)},
                                "start_1": "13:00",
                                "end_1": "14:00",
                                "valid_from": w.next_day.isoformat(),
                                "slot_minutes": "15",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "AvailabilityState.open_range": Entry(
        "opens slots in the calling doctor's own calendar",
        DOCTOR_PAGE,
        {
            "other doctor's busy day": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "open_range",
                        (
                            {
                                "from_date": w.next_day.isoformat(),
                                "to_date": w.next_day.isoformat(),
                                "start_time": "13:00",
                                "end_time": "14:00",
                                "range_minutes": "15",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "AvailabilityState.add_time_off": Entry(
        "blocks the calling doctor's own open slots",
        DOCTOR_PAGE,
        {
            "a day both doctors have open": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "add_time_off",
                        (
                            {
                                "off_from": (w.next_day + timedelta(days=1)).isoformat(),
                                "off_to": (w.next_day + timedelta(days=1)).isoformat(),
                                "off_reason": "Conference",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "AvailabilityState.keep_range": Entry(
        "forgets the days asked to withdraw (this tab's own)",
        EVERYONE_UNCHANGED,
        {"keep": one(AvailabilityState, "keep_range")},
    ),
    "AvailabilityState.confirm_cancel_range": Entry(
        "withdraws the calling doctor's own days asked just before: their slots and visits, "
        "never another doctor's",
        DOCTOR_PAGE,
        {
            "the day both doctors have visits": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "cancel_range",
                        (
                            {
                                "cancel_from": w.next_day.isoformat(),
                                "cancel_to": w.next_day.isoformat(),
                                "reason": "Clinic closed",
                            },
                        ),
                    ),
                    Step(AvailabilityState, "confirm_cancel_range"),
                ]
            )
        },
        control=(("doctor_a", "changes"),),
    ),
    "AvailabilityState.cancel_range": Entry(
        "counts what withdrawing the calling doctor's own days would do (nothing changes "
        "before confirm_cancel_range)",
        DOCTOR_PAGE,
        {
            "the day both doctors have visits": case(
                lambda w, t, m: [
                    Step(
                        AvailabilityState,
                        "cancel_range",
                        (
                            {
                                "cancel_from": w.next_day.isoformat(),
                                "cancel_to": w.next_day.isoformat(),
                                "reason": "Clinic closed",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    "ExportState.load": Entry("doctor page guard", DOCTOR_PAGE, {"load": one(ExportState, "load")}),
    "ExportState.download": Entry(
        "the calling doctor's own visits only, every column (CSV, searched for foreign data)",
        DOCTOR_PAGE,
        {
            "all columns": one(ExportState, "download", _export_form()),
            "other patient's name": case(
                lambda w, t, m: [Step(ExportState, "download", (_export_form(_name(w, t)),))]
            ),
        },
        control=(("doctor_a", "patient_a.private"),),
    ),
    # --- profile ---
    "ProfileState.load": Entry(
        "the caller's own profile", SIGNED_IN_OWN, {"load": one(ProfileState, "load")}
    ),
    "ProfileState.save": Entry(
        "updates the caller's own profile; no id is taken from the browser",
        SIGNED_IN_OWN,
        {
            "with another person's id in the form": case(
                lambda w, t, m: [
                    Step(
                        ProfileState,
                        "save",
                        ({"first_name": "Renamed", "user_id": str(t.patient_id)},),
                    )
                ]
            )
        },
    ),
    "ProfileState.save_notifications": Entry(
        "the caller's own preferences",
        SIGNED_IN_OWN,
        {
            "email off, sms on": case(
                lambda w, t, m: [
                    Step(
                        ProfileState,
                        "save_notifications",
                        ({"notify_email": True, "notify_sms": False, "user_id": t.patient_id},),
                    )
                ]
            )
        },
    ),
    "ProfileState.save_pharmacy": Entry(
        "the calling patient's own pharmacy; other roles are refused by the service",
        who(DENIED, patients=OWN, anonymous=REDIRECT),
        {
            "set a pharmacy": one(
                ProfileState,
                "save_pharmacy",
                {
                    "pharmacy_name": "Corner Pharmacy",
                    "pharmacy_address": "1 Main St",
                    "pharmacy_phone": "416-555-0100",
                },
            )
        },
    ),
    "ProfileState.cancel_email_change": Entry(
        "the caller's own pending change",
        SIGNED_IN_OWN,
        {"cancel": one(ProfileState, "cancel_email_change")},
    ),
    "ProfileState.upload_photo": Entry(
        "the calling doctor's own public photo; no id is taken; other roles are refused",
        who(DENIED, doctors=OWN, anonymous=REDIRECT),
        {"a photo": case(lambda w, t, m: [Step(ProfileState, "upload_photo", ([_photo()],))])},
        control=(("doctor_a", "changes"),),
    ),
    "ProfileState.remove_photo": Entry(
        "the calling doctor's own photo; other roles are refused",
        who(DENIED, doctors=OWN, anonymous=REDIRECT),
        {"remove": one(ProfileState, "remove_photo")},
        control=(("doctor_a", "changes"),),
    ),
    "ProfileState.place_pin": Entry(
        "the caller's own home (doctors: own clinic) on the map; no id is taken; admins have none",
        who(OWN, admin=REDIRECT, anonymous=REDIRECT),
        {
            "a pin": one(ProfileState, "place_pin", {"pin": "43.65, -79.38"}),
            "not a place": one(ProfileState, "place_pin", {"pin": "north of here"}),
        },
    ),
    "PharmacyState.load": Entry(
        "the calling patient's own home and chosen pharmacy (Maps is not set up here)",
        who(REDIRECT, patients=OWN),
        {"load": one(PharmacyState, "load")},
    ),
    "PharmacyState.choose": Entry(
        "the calling patient's own pharmacy, re-read from Google by place id (not set up "
        "here: refused with a message, nothing saved)",
        who(REDIRECT, patients=UNCHANGED),
        {"a place id": one(PharmacyState, "choose", "ph-queen")},
    ),
    "ProfileState.disconnect_microsoft": Entry(
        "the caller's own Microsoft 365 connection (none here: nothing to disconnect); "
        "admins have none",
        who(UNCHANGED, admin=DENIED, anonymous=REDIRECT),
        {"disconnect": one(ProfileState, "disconnect_microsoft")},
    ),
    "SecurityState.change_password": Entry(
        "the caller's own password, proven by the current one",
        SIGNED_IN_OWN,
        {
            "wrong current password": one(
                SecurityState,
                "change_password",
                {
                    "current_password": "not-my-password",
                    "new_password": "a-brand-new-password-91",
                    "new_password_confirm": "a-brand-new-password-91",
                },
            ),
        },
    ),
    "SecurityState.change_email": Entry(
        "the caller's own address; taking another person's address is refused",
        SIGNED_IN_OWN,
        {
            "another person's address": case(
                lambda w, t, m: [
                    Step(
                        SecurityState,
                        "change_email",
                        (
                            {
                                "new_email": _email(w, t, "patient"),
                                "email_password": "demo-visit-password-2026",
                            },
                        ),
                    )
                ]
            )
        },
    ),
    # --- admin ---
    "ApplicationsState.load": Entry(
        "admin list; the service refuses and audits everyone else",
        ADMIN_ONLY,
        {"load": one(ApplicationsState, "load")},
    ),
    "ApplicationsState.show_status": Entry(
        "admin list", ADMIN_ONLY, {"approved": one(ApplicationsState, "show_status", "approved")}
    ),
    "ApplicationsState.go_to_page": Entry(
        "admin list", ADMIN_ONLY, {"page 2": one(ApplicationsState, "go_to_page", 2)}
    ),
    "ApplicationsState.approve": Entry(
        "admin action on an applicant",
        ADMIN_ACTION,
        {
            "the hidden applicant": case(
                lambda w, t, m: [Step(ApplicationsState, "approve", (w.pending_doctor,))]
            )
        },
        control=(("admin", "changes"),),
    ),
    "ApplicationsState.reject": Entry(
        "admin action on state.rejecting_id",
        ADMIN_ACTION,
        {
            "the hidden applicant": case(
                lambda w, t, m: [
                    Step(
                        ApplicationsState,
                        "reject",
                        ({"reason": "Missing licence number"},),
                        {"rejecting_id": w.pending_doctor},
                    )
                ]
            )
        },
        control=(("admin", "changes"),),
    ),
    "ApplicationsState.open_approve": Entry(
        "opens the approval question only; approve re-checks everything",
        EVERYONE_UNCHANGED,
        {
            "pending": case(
                lambda w, t, m: [Step(ApplicationsState, "open_approve", (w.pending_doctor,))]
            )
        },
    ),
    "ApplicationsState.close_approve": Entry(
        "closes the approval question only",
        EVERYONE_UNCHANGED,
        {"close": one(ApplicationsState, "close_approve")},
    ),
    "ApplicationsState.open_reject": Entry(
        "form field only; reject re-checks in the service",
        EVERYONE_UNCHANGED,
        {
            "the hidden applicant": case(
                lambda w, t, m: [Step(ApplicationsState, "open_reject", (w.pending_doctor,))]
            )
        },
    ),
    "ApplicationsState.close_reject": Entry(
        "form field only", EVERYONE_UNCHANGED, {"close": one(ApplicationsState, "close_reject")}
    ),
    "RemovedFilesState.load": Entry(
        "admin list of hidden and deleted files (names, no links)",
        ADMIN_ONLY,
        {"load": one(RemovedFilesState, "load")},
        check=_no_removed_files_unless_admin,
        control=(("admin", "removed_a"),),
    ),
    "RemovedFilesState.go_to_page": Entry(
        "admin list",
        ADMIN_ONLY,
        {"page 2": one(RemovedFilesState, "go_to_page", 2)},
        check=_no_removed_files_unless_admin,
    ),
    "RemovedFilesState.restore": Entry(
        "admin action on a hidden or deleted file; its patient and doctor cannot undo a hide",
        ADMIN_ACTION,
        {
            "other's hidden file": case(
                lambda w, t, m: [Step(RemovedFilesState, "restore", (t.hidden_file,))]
            ),
            "own visit's hidden file": case(
                lambda w, t, m: [Step(RemovedFilesState, "restore", (m.hidden_file,))]
            ),
        },
        control=(("admin", "changes"),),
    ),
    "FailedMessagesState.load": Entry(
        "admin list of messages that failed for good (addresses and subjects, no bodies)",
        ADMIN_ONLY,
        {"load": one(FailedMessagesState, "load")},
        check=_no_failed_messages_unless_admin,
        control=(("admin", "patient_a.identity"),),
    ),
    "FailedMessagesState.go_to_page": Entry(
        "admin list",
        ADMIN_ONLY,
        {"page 2": one(FailedMessagesState, "go_to_page", 2)},
        check=_no_failed_messages_unless_admin,
    ),
    "FailedMessagesState.retry": Entry(
        "admin action on a failed message (the outbox is not a business table: the check "
        "reads the row itself)",
        ADMIN_ACTION,
        {
            "other patient's failed email": case(
                lambda w, t, m: [Step(FailedMessagesState, "retry", (t.failed_message,))]
            ),
        },
        check=_retried_only_by_admin,
    ),
    "OperationsState.load": Entry(
        "admin figures: counts and the scheduler's host, no person's data",
        ADMIN_ONLY,
        {"load": one(OperationsState, "load")},
        check=_no_figures_unless_admin,
    ),
    "OperationsState.refresh": Entry(
        "admin figures",
        ADMIN_ONLY,
        {"refresh": one(OperationsState, "refresh")},
        check=_no_figures_unless_admin,
    ),
    "UsersState.load": Entry("admin list", ADMIN_ONLY, {"load": one(UsersState, "load")}),
    "UsersState.search": Entry(
        "admin list",
        ADMIN_ONLY,
        {
            "other patient's name": case(
                lambda w, t, m: [Step(UsersState, "search", ({"query": _name(w, t), "role": ""},))]
            )
        },
    ),
    "UsersState.go_to_page": Entry(
        "admin list", ADMIN_ONLY, {"page 2": one(UsersState, "go_to_page", 2)}
    ),
    "UsersState.set_active": Entry(
        "admin action on any account",
        ADMIN_ACTION,
        {
            "deactivate the other patient": case(
                lambda w, t, m: [Step(UsersState, "set_active", (t.patient_id, False))]
            )
        },
        control=(("admin", "changes"),),
    ),
    "AuditLogState.load": Entry(
        "admin audit log", ADMIN_ONLY, {"load": one(AuditLogState, "load")}
    ),
    "AuditLogState.search": Entry(
        "admin audit log",
        ADMIN_ONLY,
        {
            "other patient": case(
                lambda w, t, m: [
                    Step(
                        AuditLogState,
                        "search",
                        ({"patient": _name(w, t), "user": "", "action": ""},),
                    )
                ]
            )
        },
    ),
    "AuditLogState.go_to_page": Entry(
        "admin audit log", ADMIN_ONLY, {"page 2": one(AuditLogState, "go_to_page", 2)}
    ),
    "RecordAccessState.load": Entry(
        "who looked at the calling patient's own record; the service refuses other roles",
        who(REDIRECT, patients=OWN),
        {"load": one(RecordAccessState, "load")},
    ),
    "RecordAccessState.go_to_page": Entry(
        "the calling patient's own record accesses",
        who(REDIRECT, patients=OWN),
        {"page 2": one(RecordAccessState, "go_to_page", 2)},
    ),
}


def _handler_of(key: str) -> str:
    """Matrix keys may carry '#variant' for a second set of expectations."""
    return key.split("#", 1)[0]


# ---------------------------------------------------------------------------------------
# Fixtures and the runner


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    from health_app.config import Settings

    base = tmp_path_factory.mktemp("authz")
    path = base / "world.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        database_url=f"sqlite:///{path}",
        public_base_url="http://127.0.0.1",
        dev_mode=True,
        storage_backend="local",
        files_dir=str(base / "files"),
        public_files_dir=str(base / "public"),
        file_link_secret=LINK_SECRET,
    )
    return seed_world(path, settings)


@pytest.fixture
def world_db(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the seeded world (database and files folder), wired in as the app's."""
    path = tmp_path / "case.db"
    shutil.copy(world.path, path)
    shutil.copytree(world.files_dir, tmp_path / "files")
    shutil.copytree(world.public_dir, tmp_path / "public")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("PUBLIC_FILES_DIR", str(tmp_path / "public"))
    monkeypatch.setenv("FILE_LINK_SECRET", LINK_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1")
    monkeypatch.setenv("DEV_MODE", "true")
    config.get_settings.cache_clear()
    yield path
    db._engine_for.cache_clear()
    config.get_settings.cache_clear()


def _sub(root: Any, cls: type) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])  # type: ignore[attr-defined]


def _router(url: str, token: str) -> RouterData:
    """What Reflex hands the states: the page's URL and the socket handshake's headers,
    the HttpOnly session cookie among them (server-side only)."""
    headers = {"origin": "http://127.0.0.1"}
    if token:
        headers["cookie"] = f"ha_session={token}"
    return RouterData.from_router_data(
        {constants.RouteVar.HEADERS: headers, constants.RouteVar.ORIGIN: url}
    )


def play(world: World, actor: str, steps: list[Step]) -> tuple[Any, Result]:
    root = State()
    token = world.tokens.get(actor, "")
    root.router = _router("/", token)
    result = Result()
    for step in steps:
        state = _sub(root, step.state)
        if step.url:
            state.router = _router(step.url, token)
        for name, value in step.preset.items():
            setattr(state, name, value)
        got = call_handler(state, step.handler, step.args)
        result.events += got.events
        result.error = result.error or got.error
    return root, result


def _redirected_to_login(result: Result) -> bool:
    return "/login" in repr(result.events)


MATRIX_CASES = [
    pytest.param(key, label, actor, id=f"{key}[{label}]-{actor}")
    for key, entry in MATRIX.items()
    for label in entry.cases
    for actor in ACTORS
]


@pytest.mark.parametrize(("key", "label", "actor"), MATRIX_CASES)
def test_matrix(
    world: World,
    world_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    label: str,
    actor: str,
) -> None:
    entry = MATRIX[key]
    for name, value in entry.env.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    theirs, mine = world.pairs[other_side(actor)], world.pairs[side_of(actor)]
    steps = entry.cases[label](world, theirs, mine)
    expected = entry.expect[actor]
    uid = world.uid(actor)

    before, mark = snapshot(world_db), audit_high_water(world_db)
    root, result = play(world, actor, steps)
    after, trail = snapshot(world_db), audit_since(world_db, mark)

    shown = visible_text(root.dict(), result.events, result.error)
    # What the caller typed in (a name to search for, an address) is not a leak when echoed.
    typed = visible_text([(s.args, dict(s.preset), s.url) for s in steps])
    hidden = {m: g for m, g in world.foreign_markers(actor).items() if m not in typed}
    assert not leaks(shown, hidden), "foreign data reached the browser"
    assert result.error is None or expected == REDIRECT, f"unexpected error: {result.error!r}"
    # A swallowed crash would pass every check below by showing nothing at all.
    assert GENERIC_FAILURE not in shown, "the handler crashed (see the log)"

    if expected in (DENIED, REDIRECT, UNCHANGED):
        changed = before.changed_tables(after, skip=entry.may_change)
        assert changed == [], f"a refused call changed {changed}"
    elif expected == OWN:
        changed = before.changed_tables(after, except_owner=uid, skip=entry.may_change)
        assert changed == [], f"changed other people's rows in {changed}"

    denials = [a for a in trail if a.outcome == "denied"]
    # A signed-in person sent away from a page not for their role is an audited refusal too.
    if expected == DENIED or (expected == REDIRECT and actor != "anonymous"):
        assert any(a.actor_id == uid for a in denials), f"no denied audit row: {trail}"
    else:
        assert denials == [], f"unexpected denial for a {expected} call: {denials}"
    if expected == REDIRECT:
        assert _redirected_to_login(result), f"no login redirect: {result.events!r}"
    if entry.check is not None:
        entry.check(world, actor, root, result)


# Controls run each entry's first case, which is the one aimed at a real object.
CONTROL_CASES = [
    pytest.param(key, label, actor, proof, id=f"{key}[{label}]-{actor}")
    for key, entry in MATRIX.items()
    for label in list(entry.cases)[:1]
    for actor, proof in entry.control
]


@pytest.mark.parametrize(("key", "label", "actor", "proof"), CONTROL_CASES)
def test_owner_control(
    world: World, world_db: Path, key: str, label: str, actor: str, proof: str
) -> None:
    """The same call on the caller's own objects works: the refusals above are real."""
    mine = world.pairs[side_of(actor)]
    steps = MATRIX[key].cases[label](world, mine, mine)
    before = snapshot(world_db)
    root, result = play(world, actor, steps)
    assert result.error is None, repr(result.error)
    if proof == "changes":
        assert before.changed_tables(snapshot(world_db)), (
            f"the owner's call changed nothing: {result.events!r}"
        )
    else:
        shown = visible_text(root.dict(), result.events)
        assert any(m in shown for m in world.markers[proof]), f"{proof} not shown to the owner"


# ---------------------------------------------------------------------------------------
# Completeness


def _discovered_handlers() -> set[str]:
    found = set()
    for cls in app_state_classes():
        for name in cls.event_handlers:
            if name not in BUILTIN_HANDLERS:
                found.add(f"{cls.__name__}.{name}")
    return found


def test_matrix_covers_every_event_handler() -> None:
    names = [c.__name__ for c in app_state_classes()]
    assert len(names) == len(set(names)), "two state classes share a name: key the matrix better"
    in_matrix = {_handler_of(k) for k in MATRIX}
    found = _discovered_handlers()
    missing, stale = sorted(found - in_matrix), sorted(in_matrix - found)
    assert not missing, f"event handlers missing from the authorization matrix: {missing}"
    assert not stale, f"matrix entries for handlers that no longer exist: {stale}"


def test_every_entry_says_something_for_every_actor() -> None:
    groups = set().union(*VISIBLE.values())
    for key, entry in MATRIX.items():
        assert set(entry.expect) == set(ACTORS), key
        assert entry.cases and entry.why, key
        for actor, proof in entry.control:
            assert proof == "changes" or proof in groups, (key, actor, proof)


def test_setvar_reaches_no_state_var() -> None:
    """Reflex's built-in `setvar` calls `set_<name>`; with auto-setters off no state var has
    one, so the browser cannot write state vars directly (only through the handlers above)."""
    for cls in app_state_classes():
        for var in cls.get_fields():  # type: ignore[attr-defined]
            assert f"set_{var}" not in cls.event_handlers, f"{cls.__name__}.set_{var}"


# ---------------------------------------------------------------------------------------
# HTTP routes outside Reflex pages: our own (api_transformer) and Reflex's defaults.


@dataclass(frozen=True)
class Files:
    """One private file per pair (its bytes carry the pair's note marker) and the app's
    storage, which signs links with the app's secret."""

    storage: Any
    blobs: dict[str, str]
    sha: dict[str, str]


@dataclass(frozen=True)
class RouteEntry:
    why: str
    # (world, files, target pair) -> [(url, allowed status codes)] for GETs, or Posts
    requests: Callable[[World, Files, Pair], list[tuple[str, set[int]] | Post]]
    check: Callable[[World, str], None] | None = None


@dataclass(frozen=True)
class Post:
    """A form posted to `url`, from our own page unless `origin` says otherwise."""

    url: str
    allowed: set[int]
    form: dict[str, str] = field(default_factory=dict)
    origin: str = "http://127.0.0.1"
    # Where a 303 must send the browser (a prefix), when it must.
    location: str = ""


def _link(files: Files, t: Pair, storage: Any = None, holder: int | None = None) -> str:
    """A private link for the target pair's file, as the service would issue it."""
    return (
        (storage or files.storage)
        .private_link(
            files.blobs[t.side],
            filename="scan.pdf",
            content_type="application/pdf",
            inline=False,
            sha256=files.sha[t.side],
            holder=holder,
        )
        .url
    )


def _session_id(w: World, actor: str) -> int:
    with Session(db.get_engine()) as s:
        found = sessions.resolve_session(
            s, token=w.tokens[actor], settings=config.get_settings(), now=datetime.now(UTC)
        )
    assert found is not None and found.session_id is not None
    return found.session_id


def _tampered(files: Files, t: Pair, mine: Pair) -> str:
    """The caller's own genuine link with the claims swapped for the target's file."""
    own = _link(files, mine).rsplit("/", 1)[1]
    theirs = _link(files, t).rsplit("/", 1)[1]
    return f"/_files/private/{theirs.split('.')[0]}.{own.split('.')[1]}"


def _private_requests(w: World, files: Files, t: Pair) -> list[tuple[str, set[int]]]:
    from health_app.services.files.local_storage import LocalStorage

    mine = w.pairs["a" if t.side == "b" else "b"]
    storage = files.storage
    guessed = LocalStorage(storage.private_dir, storage.public_dir, secret="a-guessed-secret")
    expired = LocalStorage(
        storage.private_dir,
        storage.public_dir,
        secret=LINK_SECRET,
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    # A genuine link, leaked: issued to the target patient's session, it opens for no
    # other session and for no request without that session's cookie.
    leaked = _link(files, t, holder=_session_id(w, f"patient_{t.side}"))
    return [
        ("/_files/private/forged.token", {403}),
        (_link(files, t, guessed), {403}),
        (_tampered(files, t, mine), {403}),
        (_link(files, t, expired), {403}),
        (leaked, {403}),
    ]


ROUTES: dict[str, RouteEntry] = {
    "GET /healthz": RouteEntry(
        "liveness: a constant answer, no data",
        lambda w, f, t: [("/healthz", {200})],
    ),
    "GET /ping": RouteEntry("Reflex's liveness answer", lambda w, f, t: [("/ping", {200})]),
    "GET /_health": RouteEntry(
        "readiness (ours, in front of Reflex's): 'ok' / 'unavailable' / 'not used' for the "
        "database, storage and Redis, no data and no reasons",
        lambda w, f, t: [("/_health", {200, 503})],
    ),
    "MOUNT /_event": RouteEntry(
        "Reflex's socket.io transport: it carries exactly the state events of the matrix above",
        lambda w, f, t: [],
    ),
    "POST /_upload": RouteEntry(
        "Reflex's upload transport: files in the body, delivered only as the arguments of the "
        "upload handlers, which the matrix above calls with forged ids (see "
        "test_upload_transport_reaches_only_matrix_handlers)",
        lambda w, f, t: [],
    ),
    "MOUNT /_upload": RouteEntry(
        "Reflex serves its upload folder as static files; nothing of ours is stored there "
        "(see test_private_files_are_outside_reflex_upload_folder)",
        lambda w, f, t: [],
    ),
    "GET /_files/private/{token}": RouteEntry(
        "a private file only through a link the service signed after its own check: forged, "
        "guessed-secret, re-pointed, expired and other sessions' links to another patient's "
        "file are refused",
        _private_requests,
    ),
    "POST /_auth/login": RouteEntry(
        "public; another person's email with a wrong password signs nobody in and sets no "
        "cookie; a form from another origin is refused before anything is checked",
        lambda w, f, t: [
            Post(
                "/_auth/login",
                {303},
                {"email": w.emails[f"patient_{t.side}"], "password": "guess-guess-guess"},
                location="/login?failed=",
            ),
            Post(
                "/_auth/login",
                {403},
                {"email": w.emails[f"patient_{t.side}"], "password": "guess-guess-guess"},
                origin="https://evil.example",
            ),
        ],
        check=lambda w, actor: None,
    ),
    "POST /_auth/logout": RouteEntry(
        "ends only the session named by the caller's own cookie; another origin is refused",
        lambda w, f, t: [
            Post("/_auth/logout", {403}, origin="https://evil.example"),
            Post("/_auth/logout", {303}, location="/login?reason=logged_out"),
        ],
        check=lambda w, actor: _others_still_signed_in(w, actor, None, Result()),
    ),
    "POST /_auth/microsoft/connect": RouteEntry(
        "starts a Microsoft sign-in for the caller's own account only (no id is taken); "
        "another origin is refused; without an app registration it only says so",
        lambda w, f, t: [
            Post("/_auth/microsoft/connect", {403}, origin="https://evil.example"),
            Post("/_auth/microsoft/connect", {303}, location="/"),
        ],
    ),
    "GET /_auth/microsoft/callback": RouteEntry(
        "completes only a sign-in the caller started (state checked against the caller); a "
        "forged answer connects nobody",
        lambda w, f, t: [("/_auth/microsoft/callback?code=forged&state=forged", {303})],
    ),
    "TRANSFORMER UploadGuard": RouteEntry(
        "middleware in front of POST /_upload: a handler that takes no files gets a 400 "
        "(test_upload_to_a_handler_without_files_is_a_400)",
        lambda w, f, t: [],
    ),
    "TRANSFORMER CanonicalPages": RouteEntry(
        "middleware serving a page address from the build's own .html file (no redirect); "
        "only GET / HEAD of existing pages of the build, never backend paths "
        "(tests/state/test_page_addresses.py)",
        lambda w, f, t: [],
    ),
    "TRANSFORMER RequestIds": RouteEntry(
        "middleware giving each request an id (header and log lines) and one access line "
        "without the query string; serves nothing itself (tests/unit/test_logs.py)",
        lambda w, f, t: [],
    ),
    "TRANSFORMER _with_security_headers": RouteEntry(
        "middleware adding security headers to every response; serves nothing itself "
        "(tests/state/test_security_headers.py)",
        lambda w, f, t: [],
    ),
    "GET /_files/public/{blob:path}": RouteEntry(
        "public assets only: another patient's private file is not reachable through it",
        lambda w, f, t: [
            (f"/_files/public/{f.blobs[t.side]}", {404}),
            (f"/_files/public/..%2Ffiles%2F{f.blobs[t.side]}", {404}),
        ],
    ),
}


def _route_key(route: Any) -> str:
    from starlette.routing import Mount, Route

    if isinstance(route, Route):
        methods = sorted(set(route.methods or ()) - {"HEAD"})
        return f"{','.join(methods)} {route.path}"
    if isinstance(route, Mount):
        return f"MOUNT {route.path}"
    return f"{type(route).__name__} {getattr(route, 'path', '?')}"


@pytest.fixture(scope="module")
def app_routes() -> dict[str, Any]:
    """Every route the backend serves besides pages: Reflex's defaults and our transformer's."""
    from collections.abc import Sequence

    from starlette.applications import Starlette

    from health_app.health_app import app

    layers: list[Any] = [app._api]
    transformers = app.api_transformer
    if transformers is None:
        transformers = []
    elif not isinstance(transformers, Sequence):
        transformers = [transformers]
    found: dict[str, Any] = {}
    for t in transformers:
        if isinstance(t, Starlette):
            layers.append(t)
        else:  # middleware-style transformers cannot be listed: name them in ROUTES
            found[f"TRANSFORMER {getattr(t, '__name__', type(t).__name__)}"] = t
    for layer in layers:
        for route in layer.routes:
            if _route_key(route) != "MOUNT " or route.app is not app._api:
                found[_route_key(route)] = route
    found.pop("MOUNT ", None)  # our transformer mounting Reflex's own app under it
    if _upload_handlers():
        # Reflex adds these when the compiled pages use rx.upload (App._add_optional_endpoints);
        # an app imported by a test is not compiled, so they are named here.
        found.setdefault("POST /_upload", None)
        found.setdefault("MOUNT /_upload", None)
    return found


def _upload_handlers() -> set[str]:
    """Handlers Reflex's POST /_upload can call: a list[rx.UploadFile] or an
    rx.UploadChunkIterator parameter."""
    from reflex_base.event import (
        resolve_upload_chunk_handler_param,
        resolve_upload_handler_param,
    )
    from reflex_base.utils.exceptions import UploadTypeError, UploadValueError

    found = set()
    for cls in app_state_classes():
        for name, handler in cls.event_handlers.items():
            for resolve in (resolve_upload_chunk_handler_param, resolve_upload_handler_param):
                try:
                    resolve(handler)
                except (UploadTypeError, UploadValueError):
                    continue
                found.add(f"{cls.__name__}.{name}")
    return found


def test_upload_transport_reaches_only_matrix_handlers() -> None:
    in_matrix = {_handler_of(k) for k in MATRIX}
    uploads = _upload_handlers()
    assert uploads, "no upload handler found: the detection is broken"
    assert uploads <= in_matrix, sorted(uploads - in_matrix)


def test_upload_to_a_handler_without_files_is_a_400() -> None:
    """Naming another handler on the upload endpoint is refused before Reflex sees it."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from health_app.http_upload_guard import UploadGuard

    async def reflex_upload(_: Any) -> PlainTextResponse:
        return PlainTextResponse("reached Reflex")

    client = TestClient(
        UploadGuard(Starlette(routes=[Route("/_upload", reflex_upload, methods=["POST"])]))
    )
    state = VisitFilesState.get_full_name()
    for handler, expected in ((f"{state}.delete", 400), (f"{state}.upload", 200)):
        response = client.post(
            "/_upload",
            headers={"reflex-client-token": "t", "reflex-event-handler": handler},
            files={"files": ("a.txt", b"x")},
        )
        assert response.status_code == expected, (handler, response.text)
    profile = f"{ProfileState.get_full_name()}.upload_photo"
    assert client.post("/_upload", headers={"reflex-event-handler": profile}).status_code == 200


def test_private_files_are_outside_reflex_upload_folder() -> None:
    """Everything under Reflex's upload folder is public at /_upload/..."""
    from reflex_base.environment import environment

    public = environment.REFLEX_UPLOADED_FILES_DIR.get().resolve()
    for folder in (config.Settings.files_dir, config.get_settings().files_dir):
        private = Path(folder).resolve()
        assert not private.is_relative_to(public) and not public.is_relative_to(private)


def test_matrix_covers_every_http_route(app_routes: dict[str, Any]) -> None:
    missing, stale = sorted(set(app_routes) - set(ROUTES)), sorted(set(ROUTES) - set(app_routes))
    assert not missing, f"HTTP routes missing from the authorization matrix: {missing}"
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


@pytest.fixture
def files(world: World, world_db: Path) -> Files:
    from health_app.services.files.storage import get_storage

    # world_db has wired in the case's copy of the files folder and LINK_SECRET.
    storage = get_storage(config.get_settings())
    blobs, sha = {}, {}
    for side, pair in world.pairs.items():
        blobs[side] = f"v{pair.past_visit}/scan-{side}{side}.pdf"
        sha[side] = storage.put(
            blobs[side],
            f"%PDF-1.4 scan of pair {side}: Note-{side.upper()}".encode(),
            content_type="application/pdf",
        )
    return Files(storage, blobs, sha)


def _client(app_routes: dict[str, Any]) -> Any:
    """The discovered routes served in-process (the socket.io mount is covered above)."""
    import warnings

    from starlette.applications import Starlette
    from starlette.routing import Route

    with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    served = Starlette(routes=[r for r in app_routes.values() if isinstance(r, Route)])
    return TestClient(served, base_url="http://127.0.0.1")


ROUTE_CASES = [pytest.param(key, actor, id=f"{key}-{actor}") for key in ROUTES for actor in ACTORS]


@pytest.mark.parametrize(("key", "actor"), ROUTE_CASES)
def test_route(
    world: World, world_db: Path, files: Files, app_routes: dict[str, Any], key: str, actor: str
) -> None:
    client = _client(app_routes)
    if actor in world.tokens:
        client.cookies.set("ha_session", world.tokens[actor])
    target = world.pairs[other_side(actor)]
    before, mark = snapshot(world_db), audit_high_water(world_db)
    for request in ROUTES[key].requests(world, files, target):
        if isinstance(request, Post):
            url, allowed = request.url, request.allowed
            response = client.post(
                url, data=request.form, headers={"origin": request.origin}, follow_redirects=False
            )
            where = urlsplit(response.headers.get("location", ""))
            assert f"{where.path}?{where.query}".startswith(request.location), (
                url,
                response.headers.get("location"),
            )
            # A refused or failed login never hands out a session cookie.
            assert "ha_session=" not in response.headers.get("set-cookie", "").replace(
                'ha_session=""', ""
            )
        else:
            url, allowed = request
            response = client.get(url, follow_redirects=False)
        assert response.status_code in allowed, (url, response.status_code, response.text[:200])
        shown = visible_text(response.text, dict(response.headers))
        assert not leaks(shown, world.foreign_markers(actor)), f"foreign data from {url}"
    assert before.changed_tables(snapshot(world_db)) == []
    assert [a for a in audit_since(world_db, mark) if a.outcome == "denied"] == []
    if ROUTES[key].check is not None:
        ROUTES[key].check(world, actor)


def test_route_control_a_genuine_link_serves_the_file(
    world: World, files: Files, app_routes: dict[str, Any]
) -> None:
    """The refusals above are real: the same route serves a link the service signed."""
    response = _client(app_routes).get(_link(files, world.pairs["a"]))
    assert response.status_code == 200 and "Note-A" in response.text
    assert response.headers["content-security-policy"] == "sandbox"
    bound = _link(files, world.pairs["a"], holder=_session_id(world, "patient_a"))
    owner = _client(app_routes)
    owner.cookies.set("ha_session", world.tokens["patient_a"])
    response = owner.get(bound)
    assert response.status_code == 200 and "Note-A" in response.text
