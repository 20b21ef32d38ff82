"""Small helpers about people shared by several services."""

from __future__ import annotations

from health_app.models import User


def display_name(user: User) -> str:
    """What we call someone: their preferred name if they gave one."""
    return f"{user.preferred_name or user.first_name} {user.last_name}"
