"""Microsoft 365 rules that need no server: ID token checks, sealed tokens, redaction,
settings."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from health_app.config import Settings, load_settings
from health_app.log_redaction import RedactSecrets, redact
from health_app.services.microsoft import calendar_sync
from health_app.services.microsoft.id_token import (
    IdTokenRefused,
    expected_nonce,
    validate_id_token,
)
from health_app.services.microsoft.token_keys import TokenKeyError, new_key, seal, unseal

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SETTINGS = Settings(
    microsoft_client_id="client-1",
    microsoft_client_secret="s",
    microsoft_token_keys=("a-long-passphrase-of-at-least-32-chars",),
)


def _token(**over: Any) -> str:
    claims: dict[str, Any] = {
        "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
        "aud": "client-1",
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "iat": int(NOW.timestamp()),
        "nonce": expected_nonce("flow-nonce"),
        "tid": TID,
        "oid": "oid-1",
        "name": "Amir Khan",
        "preferred_username": "amir@clinic.example",
    }
    claims.update(over)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, "k" * 32, "HS256")


def _check(token: str, settings: Settings = SETTINGS, now: datetime = NOW) -> Any:
    return validate_id_token(token, settings=settings, nonce=expected_nonce("flow-nonce"), now=now)


def test_a_good_id_token_gives_the_account() -> None:
    claims = _check(_token())
    assert (claims.tenant_id, claims.name, claims.email) == (
        TID,
        "Amir Khan",
        "amir@clinic.example",
    )


@pytest.mark.parametrize(
    "over",
    [
        {"aud": "another-app"},
        {"iss": "https://login.microsoftonline.com/other/v2.0"},
        {"iss": "https://evil.example/" + TID + "/v2.0"},
        {"exp": int((NOW - timedelta(minutes=6)).timestamp())},
        {"iat": int((NOW + timedelta(minutes=6)).timestamp())},
        {"nonce": "replayed"},
        {"nonce": None},
        {"tid": None},
        {
            "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
            "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        },
    ],
    ids=[
        "audience",
        "issuer-tenant",
        "issuer-host",
        "expired",
        "future",
        "nonce",
        "no-nonce",
        "no-tenant",
        "personal-account",
    ],
)
def test_an_id_token_not_made_for_this_sign_in_is_refused(over: dict[str, Any]) -> None:
    with pytest.raises(IdTokenRefused):
        _check(_token(**over))


def test_clock_skew_of_a_few_minutes_is_tolerated() -> None:
    _check(_token(exp=int((NOW - timedelta(minutes=4)).timestamp())))


def test_a_single_tenant_app_takes_only_its_tenant() -> None:
    single = replace(SETTINGS, microsoft_tenant=TID)
    _check(_token(), single)
    other = "11111111-1111-1111-1111-111111111111"
    with pytest.raises(IdTokenRefused):
        _check(_token(tid=other, iss=f"https://login.microsoftonline.com/{other}/v2.0"), single)


def test_garbage_is_refused() -> None:
    with pytest.raises(IdTokenRefused):
        _check("not-a-jwt")


def test_sealed_tokens_open_with_any_configured_key_and_rotate() -> None:
    old = SETTINGS
    sealed = seal('{"RefreshToken": {"secret": "rt-1"}}', old)
    assert "rt-1" not in sealed
    rotated = replace(old, microsoft_token_keys=(new_key(), *old.microsoft_token_keys))
    assert unseal(sealed, rotated) == '{"RefreshToken": {"secret": "rt-1"}}'
    resealed = seal(unseal(sealed, rotated), rotated)
    without_old = replace(rotated, microsoft_token_keys=rotated.microsoft_token_keys[:1])
    assert "rt-1" in unseal(resealed, without_old)
    with pytest.raises(TokenKeyError):
        unseal(sealed, without_old)


def test_codes_and_tokens_are_redacted_from_access_log_lines() -> None:
    line = '127.0.0.1:5 - "GET /_auth/microsoft/callback?code=0.AXo-abc&state=xyz&x=1 HTTP/1.1"'
    assert redact(line) == (
        '127.0.0.1:5 - "GET /_auth/microsoft/callback?code=[redacted]&state=[redacted]&x=1 '
        'HTTP/1.1"'
    )
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/reset?token=abc.def", "1.1", 200),
        None,
    )
    RedactSecrets().filter(record)
    assert "abc.def" not in record.getMessage() and "token=[redacted]" in record.getMessage()


def test_the_transaction_id_is_fixed_per_visit_and_person() -> None:
    assert calendar_sync.transaction_id(1, 2) == calendar_sync.transaction_id(1, 2)
    assert calendar_sync.transaction_id(1, 2) != calendar_sync.transaction_id(1, 3)


def test_a_client_id_without_token_keys_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROSOFT_CLIENT_ID", "client-1")
    monkeypatch.setenv("MICROSOFT_CLIENT_SECRET", "secret")
    monkeypatch.delenv("MICROSOFT_TOKEN_KEYS", raising=False)
    with pytest.raises(ValueError, match="MICROSOFT_TOKEN_KEYS"):
        load_settings()
    monkeypatch.setenv("MICROSOFT_TOKEN_KEYS", "short")
    with pytest.raises(ValueError, match="32 characters"):
        load_settings()
    monkeypatch.setenv("MICROSOFT_TOKEN_KEYS", new_key())
    assert load_settings().microsoft_enabled
