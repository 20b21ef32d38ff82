"""Checks on the ID token Microsoft returns when a person connects their account.

MSAL 1.38+ no longer validates ID tokens, so we do: issuer, audience, expiry (with a small
clock skew), tenant and nonce. The token comes straight from the token endpoint over TLS
in exchange for our client secret, which OpenID Connect Core 3.1.3.7 (6) accepts in place
of checking its signature; the claims checked here are what makes it ours and fresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from health_app.config import Settings

SKEW_SECONDS = 300
# Tenant words that admit accounts from many tenants: then any tenant may connect, but the
# issuer must still name the tenant the token says it is from.
MULTI_TENANT = {"common", "organizations", "consumers"}
# The "consumers" tenant id: personal Microsoft accounts (no Teams meetings for them).
PERSONAL_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


class IdTokenRefused(Exception):
    """The ID token is not one we asked for; the reason is for logs, not for people."""


@dataclass(frozen=True)
class IdentityClaims:
    tenant_id: str
    object_id: str
    name: str
    email: str


def expected_nonce(flow_nonce: str) -> str:
    """MSAL sends the SHA-256 of the flow's nonce in the authorize request."""
    return hashlib.sha256(flow_nonce.encode("ascii")).hexdigest()


def _claims(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise IdTokenRefused(f"not a JWT: {type(exc).__name__}") from exc


def validate_id_token(
    token: str, *, settings: Settings, nonce: str, now: datetime
) -> IdentityClaims:
    claims = _claims(token)
    tid = str(claims.get("tid", ""))
    if not tid:
        raise IdTokenRefused("no tenant id")
    configured = settings.microsoft_tenant.lower()
    if configured not in MULTI_TENANT and tid.lower() != configured:
        raise IdTokenRefused("tenant not allowed")
    if configured == "organizations" and tid == PERSONAL_TENANT:
        raise IdTokenRefused("personal account where work accounts are required")
    expected_issuer = f"{settings.microsoft_authority_host}/{tid}/v2.0"
    if claims.get("iss") != expected_issuer:
        raise IdTokenRefused("wrong issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if settings.microsoft_client_id not in audiences:
        raise IdTokenRefused("wrong audience")
    stamp = now.timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + SKEW_SECONDS < stamp:
        raise IdTokenRefused("expired")
    nbf = claims.get("nbf", claims.get("iat"))
    if isinstance(nbf, int | float) and nbf - SKEW_SECONDS > stamp:
        raise IdTokenRefused("not valid yet")
    if claims.get("nonce") != nonce:
        raise IdTokenRefused("nonce mismatch")
    oid = str(claims.get("oid", "") or claims.get("sub", ""))
    email = str(claims.get("preferred_username", "") or claims.get("email", ""))
    return IdentityClaims(
        tenant_id=tid, object_id=oid, name=str(claims.get("name", ""))[:200], email=email[:254]
    )
