"""What services hand out: small frozen dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who is calling, as established from a live server-side session."""

    user_id: int
    role: str
    display_name: str
    session_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    token: str
    actor: Actor


@dataclass(frozen=True)
class ConfirmResult:
    role: str
    awaiting_approval: bool


@dataclass(frozen=True)
class DoctorApplicationView:
    user_id: int
    name: str
    email: str
    email_confirmed: bool
    specialty: str
    qualifications: str
    clinic_name: str
    clinic_city: str
    languages: tuple[str, ...]
    consultation_types: tuple[str, ...]
    applied_at: datetime
    licence_number: str
    status: str
    rejection_reason: str


@dataclass(frozen=True)
class UserAdminView:
    user_id: int
    name: str
    email: str
    role: str
    active: bool
    email_confirmed: bool
    created_at: datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))
