"""Small helpers about people shared by several services."""

from __future__ import annotations

from typing import Protocol


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
