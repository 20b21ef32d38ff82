"""Password policy (NIST 800-63B style) and argon2id hashing."""

from __future__ import annotations

from passlib.context import CryptContext

from health_app.services.catalogue import common_passwords
from health_app.services.validation import FieldError

MIN_LENGTH = 12
MAX_LENGTH = 128

_context = CryptContext(schemes=["argon2"], argon2__type="ID")
# Verified against when the account does not exist, so timing does not reveal that.
_DUMMY_HASH = _context.hash("not-a-real-password-0000")


def check_password(password: str, *, context_words: tuple[str, ...] = ()) -> str:
    """Length and common-password rules only: any characters, no composition rules."""
    if len(password) < MIN_LENGTH:
        raise FieldError(f"Use at least {MIN_LENGTH} characters. A short phrase works well.")
    if len(password) > MAX_LENGTH:
        raise FieldError(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 4:
        raise FieldError("This password is too common. Choose something less predictable.")
    for word in context_words:
        if len(word) >= 4 and word.lower() in lowered:
            raise FieldError("Do not use your name or email address in your password.")
    return password


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not there is a hash to check."""
    if not password_hash:
        _context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _context.verify(password, password_hash)
    except ValueError:
        return False
