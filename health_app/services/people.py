"""Small helpers about people shared by several services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlmodel import Session, col, select

from health_app.models import User


class Named(Protocol):
    """Anything with a person's name: a User, or a row of just its name columns."""

    @property
    def first_name(self) -> str: ...
    @property
    def preferred_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...


class Contact(Named, Protocol):
    @property
    def phone(self) -> str: ...


def display_name(user: Named) -> str:
    """What we call someone: their preferred name if they gave one."""
    return f"{user.preferred_name or user.first_name} {user.last_name}"


def names_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of these users, in one query."""
    wanted = {i for i in ids if i is not None}
    users = session.exec(select(User).where(col(User.id).in_(wanted))).all()
    return {u.id: display_name(u) for u in users if u.id is not None}
