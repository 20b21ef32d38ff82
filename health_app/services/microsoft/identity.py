"""MSAL: the confidential client, the authorization-code flow and silent refresh.

Every call builds a client around one person's token cache (decrypted from the database
for the call, sealed again when MSAL changed it). The discovery documents MSAL fetches are
shared by the process (`_HTTP_CACHE`), so a client costs no network round trip after the
first. Nothing here logs a token, a code or a cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import msal
import requests

from health_app.config import Settings
from health_app.models import Role

log = logging.getLogger(__name__)
# MSAL's debug logging prints token requests whole (the code and the PKCE verifier among
# them): never below INFO, whatever the app's log level.
logging.getLogger("msal").setLevel(logging.INFO)

CALENDAR_SCOPES = ["User.Read", "Calendars.ReadWrite"]
# Doctors also create Teams meetings for video visits. MSAL adds openid, profile and
# offline_access (the refresh token) by itself.
DOCTOR_SCOPES = [*CALENDAR_SCOPES, "OnlineMeetings.ReadWrite"]
CALLBACK_PATH = "/_auth/microsoft/callback"

_HTTP_CACHE: dict[Any, Any] = {}


def scopes_for(role: str) -> list[str]:
    return DOCTOR_SCOPES if role == Role.DOCTOR else CALENDAR_SCOPES


def _known_host(settings: Settings) -> bool:
    return settings.microsoft_authority_host == "https://login.microsoftonline.com"


def client(
    settings: Settings, cache: msal.SerializableTokenCache | None = None
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        settings.microsoft_client_id,
        client_credential=settings.microsoft_client_secret,
        authority=settings.microsoft_authority,
        token_cache=cache,
        # Instance discovery asks Microsoft about the authority: only for its own host.
        instance_discovery=_known_host(settings),
        verify=cast(bool, settings.microsoft_ca_bundle or True),  # requests takes a CA path too
        timeout=settings.microsoft_timeout_seconds,
        http_cache=_HTTP_CACHE,
    )


class Unreachable(Exception):
    """Microsoft's sign-in service did not answer (its discovery document, to start)."""


def start_flow(settings: Settings, *, role: str, redirect_uri: str) -> dict[str, Any]:
    """The flow to keep on the server (state, nonce, PKCE verifier) and its auth_uri."""
    try:
        return client(settings).initiate_auth_code_flow(
            scopes_for(role), redirect_uri=redirect_uri, prompt="select_account"
        )
    except (requests.RequestException, ValueError) as exc:
        raise Unreachable(type(exc).__name__) from exc


class FlowRefused(Exception):
    """The answer from Microsoft does not complete this flow; `reason` is for the logs."""

    def __init__(self, reason: str, *, declined: bool = False) -> None:
        super().__init__(reason)
        self.declined = declined


@dataclass(frozen=True)
class Redeemed:
    id_token: str
    home_account_id: str
    cache: str  # the serialized MSAL token cache (plain; the caller seals it)
    scopes: tuple[str, ...]


def redeem(
    settings: Settings, *, flow: dict[str, Any], answer: dict[str, str], role: str
) -> Redeemed:
    """Exchange the code for tokens; MSAL checks the state, sends the PKCE verifier and
    compares the nonce."""
    if answer.get("error"):
        declined = answer.get("error") in {"access_denied", "consent_required"}
        raise FlowRefused(f"authorize answered {answer.get('error')!r}", declined=declined)
    cache = msal.SerializableTokenCache()
    try:
        result = client(settings, cache).acquire_token_by_auth_code_flow(
            flow, answer, scopes=scopes_for(role)
        )
    except ValueError as exc:  # state mismatch, missing code
        raise FlowRefused(f"answer does not match the flow: {type(exc).__name__}") from exc
    except RuntimeError as exc:  # nonce mismatch
        raise FlowRefused("nonce mismatch") from exc
    except requests.RequestException as exc:
        raise FlowRefused(f"token endpoint unreachable: {type(exc).__name__}") from exc
    if "error" in result or "id_token" not in result:
        raise FlowRefused(f"token endpoint answered {result.get('error', 'no id_token')!r}")
    accounts = client(settings, cache).get_accounts()
    granted = tuple(str(result.get("scope", "")).split())
    return Redeemed(
        id_token=str(result["id_token"]),
        home_account_id=str(accounts[0]["home_account_id"]) if accounts else "",
        cache=cache.serialize(),
        scopes=granted,
    )


class RefreshFailed(Exception):
    """The tokens cannot be renewed without the person (`needs_person`), or not now."""

    def __init__(self, reason: str, *, needs_person: bool) -> None:
        super().__init__(reason)
        self.needs_person = needs_person


# Token endpoint errors that only the person signing in again can cure.
_NEEDS_PERSON = {"invalid_grant", "interaction_required", "consent_required", "login_required"}


def access_token(
    settings: Settings, *, cache_text: str, role: str, force_refresh: bool = False
) -> tuple[str, str | None]:
    """(access token, the changed cache to store or None), refreshing when needed."""
    cache = msal.SerializableTokenCache()
    cache.deserialize(cache_text)
    try:
        app = client(settings, cache)
        accounts = app.get_accounts()
        if not accounts:
            raise RefreshFailed("no account in the token cache", needs_person=True)
        result = app.acquire_token_silent_with_error(
            scopes_for(role), account=accounts[0], force_refresh=force_refresh
        )
    except (requests.RequestException, ValueError) as exc:
        raise RefreshFailed(
            f"token endpoint unreachable: {type(exc).__name__}", needs_person=False
        ) from exc
    if not result:
        raise RefreshFailed("no refresh token", needs_person=True)
    if "access_token" not in result:
        error = str(result.get("error", "unknown"))
        raise RefreshFailed(f"refresh refused: {error}", needs_person=error in _NEEDS_PERSON)
    changed = cache.serialize() if cache.has_state_changed else None
    return str(result["access_token"]), changed
