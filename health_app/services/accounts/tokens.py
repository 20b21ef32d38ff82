"""Opaque random tokens: the raw value goes to the user, only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
