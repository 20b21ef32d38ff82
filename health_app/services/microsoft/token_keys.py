"""Tokens at rest: Microsoft token caches are stored encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256 tag), so a copy of the database alone opens no one's mailbox or calendar.

MICROSOFT_TOKEN_KEYS holds one or more keys, comma-separated: the first encrypts, every
one decrypts, so a key can be rotated by putting the new one first and re-saving.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from health_app.config import Settings

_INFO = b"health-app microsoft token cache"


class TokenKeyError(Exception):
    """The stored tokens cannot be read with the configured keys."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str) -> Fernet:
    """A Fernet key is used as it is; any other secret (>= 32 characters, checked by the
    settings) is stretched into one with HKDF."""
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return Fernet(key.encode())
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


@lru_cache(maxsize=4)
def _box(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        # Only reachable without Microsoft configured; a random key keeps nothing readable.
        return MultiFernet([Fernet(Fernet.generate_key())])
    return MultiFernet([_fernet(k) for k in keys])


def seal(plain: str, settings: Settings) -> str:
    return _box(settings.microsoft_token_keys).encrypt(plain.encode()).decode()


def unseal(sealed: str, settings: Settings) -> str:
    try:
        return _box(settings.microsoft_token_keys).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise TokenKeyError(
            "stored Microsoft tokens do not open with MICROSOFT_TOKEN_KEYS"
        ) from exc


def random_state() -> str:
    return secrets.token_urlsafe(32)
