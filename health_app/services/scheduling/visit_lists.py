"""Several lists of one person's visits, read in one statement: what a dashboard shows.

A dashboard is the page everyone opens after login and returns to after every change, so
its reads run on every load of every tab. Read one list at a time, a doctor's dashboard
was 17 statements (a count, the rows and the people for each list); here each list is a
branch of one UNION ALL (its rows sorted and limited in SQL, and, where the page says "n
more", its full size as an uncorrelated count computed once), and the people's names and
the doctor's time zone are joined on the few rows that come back.

Statements are built once per shape (which lists, which filters) with bind parameters
only, so a load binds values and reuses SQLAlchemy's compiled form and the driver's
prepared statement. Which visits belong in which list is `booking.visit_list_rule`, the
same rule the paged lists use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from health_app.driver_reads import read_rows
from health_app.models import Appointment, DoctorProfile, Role, User
from health_app.services.scheduling.booking import (
    AppointmentView,
    VisitColumns,
    appointment_view,
    visit_list_rule,
)

_A = Appointment.__table__  # type: ignore[attr-defined]
# What a view is made of (`booking.VisitColumns`, one column per property): not the whole
# visit row.
_SHOWN = tuple(
    _A.c[name] for name, member in vars(VisitColumns).items() if isinstance(member, property)
)


@dataclass(frozen=True)
class VisitList:
    """One list: its visits (`where`, over the appointment table), their order, how many
    to show, and whether its full size is wanted too."""

    where: ColumnElement[bool]
    newest_first: bool = False
    limit: int | None = None
    counted: bool = False


class _Person(NamedTuple):
    first_name: str
    preferred_name: str
    last_name: str
    phone: str


def column(name: str) -> ColumnElement[Any]:
    """A column of the appointment table, for a list's `where`."""
    return _A.c[name]


def mine(role: str) -> ColumnElement[bool]:
    """The signed-in person's own visits (binds `me`)."""
    side = _A.c.patient_id if role == Role.PATIENT else _A.c.doctor_id
    return side == bindparam("me", type_=Integer)


def rule(which: str) -> ColumnElement[bool]:
    """`booking.visit_list_rule` over the appointment table (binds `now`)."""
    return visit_list_rule(which, bindparam("now"))


# How many visits a dashboard shows in each of its lists.
LIST_SIZE = 10


def own(role: str, which: str) -> VisitList:
    """A dashboard's list of the signed-in person's visits (binds `me`, `now`): "upcoming"
    soonest first and counted, "past" and "cancelled" newest first."""
    upcoming = which == "upcoming"
    return VisitList(
        mine(role) & rule(which), newest_first=not upcoming, limit=LIST_SIZE, counted=upcoming
    )


def _branch(index: int, wanted: VisitList) -> Select[*tuple[Any, ...]]:
    if wanted.newest_first:
        order = (_A.c.starts_at.desc(), _A.c.id.desc())
    else:
        order = (_A.c.starts_at, _A.c.id)
    rows = select(*_SHOWN).where(wanted.where).order_by(*order)
    if wanted.limit is not None:
        rows = rows.limit(wanted.limit)
    total: ColumnElement[int] = (
        select(func.count()).select_from(_A).where(wanted.where).scalar_subquery()
        if wanted.counted
        else literal(0, Integer)
    )
    limited = rows.subquery()
    return select(literal(index, Integer).label("list_index"), limited, total.label("list_total"))


def statement(lists: tuple[VisitList, ...]) -> Select[*tuple[Any, ...]]:
    """Every list's visits with the people's names and the doctor's zone, in one statement."""
    visits = union_all(*(_branch(i, w) for i, w in enumerate(lists))).subquery("visit")
    doctor = aliased(User, name="doctor_user")
    patient = aliased(User, name="patient_user")
    return (
        select(
            visits,
            col(doctor.first_name).label("doctor_first_name"),
            col(doctor.preferred_name).label("doctor_preferred_name"),
            col(doctor.last_name).label("doctor_last_name"),
            col(doctor.phone).label("doctor_phone"),
            col(patient.first_name).label("patient_first_name"),
            col(patient.preferred_name).label("patient_preferred_name"),
            col(patient.last_name).label("patient_last_name"),
            col(patient.phone).label("patient_phone"),
            col(DoctorProfile.time_zone),
        )
        .join(doctor, col(doctor.id) == visits.c.doctor_id)
        .join(patient, col(patient.id) == visits.c.patient_id)
        .join(DoctorProfile, col(DoctorProfile.user_id) == visits.c.doctor_id)
    )


@dataclass(frozen=True)
class ReadList:
    visits: tuple[AppointmentView, ...]
    # The list's full size when it was counted; otherwise how many came back.
    total: int


def read(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    lists: Mapping[str, VisitList],
    params: Mapping[str, Any],
) -> dict[str, ReadList]:
    """Run a statement made by `statement(tuple(lists.values()))`; the lists by name."""
    names = list(lists)
    found: dict[int, list[Any]] = {i: [] for i in range(len(names))}
    totals: dict[int, int] = {}
    for r in read_rows(session, stmt, params):
        found[r.list_index].append(r)
        totals[r.list_index] = r.list_total
    out: dict[str, ReadList] = {}
    for i, name in enumerate(names):
        wanted = lists[name]
        # UNION ALL keeps no order of its own: each list is put back in its order here.
        rows = sorted(found[i], key=lambda r: (r.starts_at, r.id), reverse=wanted.newest_first)
        views = tuple(_view(r) for r in rows)
        out[name] = ReadList(views, totals.get(i, 0) if wanted.counted else len(views))
    return out


def _view(r: Any) -> AppointmentView:
    doctor = _Person(
        r.doctor_first_name, r.doctor_preferred_name, r.doctor_last_name, r.doctor_phone
    )
    patient = _Person(
        r.patient_first_name, r.patient_preferred_name, r.patient_last_name, r.patient_phone
    )
    return appointment_view(cast(VisitColumns, r), doctor, patient, r.time_zone)
