"""Access tokens for one person's Graph calls, refreshed silently.

The token cache is read from the database for each call and written back sealed when
MSAL renewed something. When renewal needs the person (password changed, consent
withdrawn), the connection is marked `needs_reconnect`: their dashboard asks them to
reconnect, and their calendar work waits as failed messages until they do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from health_app.config import Settings
from health_app.db import writer
from health_app.models import ConnectionStatus, MicrosoftConnection, Role, User
from health_app.services.messaging.mailer import PermanentSendError, TransientSendError
from health_app.services.microsoft import identity
from health_app.services.microsoft.graph import TokenSource
from health_app.services.microsoft.token_keys import TokenKeyError, seal, unseal

log = logging.getLogger(__name__)

NEEDS_RECONNECT = "Microsoft 365 needs reconnecting"


def mark_needs_reconnect(engine: Engine, user_id: int, reason: str) -> None:
    with Session(writer(engine)) as session:
        session.execute(
            update(MicrosoftConnection)
            .where(
                col(MicrosoftConnection.user_id) == user_id,
                col(MicrosoftConnection.status) == ConnectionStatus.CONNECTED,
            )
            .values(
                status=ConnectionStatus.NEEDS_RECONNECT,
                last_error=reason[:300],
                updated_at=datetime.now(UTC),
            )
        )
        session.commit()
    log.warning("Microsoft 365 of user %s needs reconnecting: %s", user_id, reason)


def source(engine: Engine, settings: Settings, user_id: int) -> TokenSource:
    """A token provider for Graph: cached token first, a forced refresh when Graph said 401."""

    def token(force_refresh: bool) -> str:
        with Session(engine) as session:
            conn = session.get(MicrosoftConnection, user_id)
            user = session.get(User, user_id)
            if conn is None or conn.status == ConnectionStatus.DISCONNECTED or not conn.token_cache:
                raise PermanentSendError("Microsoft 365 is not connected")
            if conn.status == ConnectionStatus.NEEDS_RECONNECT:
                raise PermanentSendError(NEEDS_RECONNECT)
            sealed, role = conn.token_cache, user.role if user else Role.PATIENT
        try:
            cache_text = unseal(sealed, settings)
        except TokenKeyError as exc:
            mark_needs_reconnect(engine, user_id, "stored tokens unreadable (key changed)")
            raise PermanentSendError(NEEDS_RECONNECT) from exc
        try:
            access, changed = identity.access_token(
                settings, cache_text=cache_text, role=role, force_refresh=force_refresh
            )
        except identity.RefreshFailed as exc:
            if exc.needs_person:
                mark_needs_reconnect(engine, user_id, str(exc))
                raise PermanentSendError(NEEDS_RECONNECT) from exc
            raise TransientSendError(f"Microsoft sign-in unavailable: {exc}") from exc
        if changed is not None:
            with Session(writer(engine)) as session:
                # Only while still connected: a disconnect meanwhile erased the tokens.
                session.execute(
                    update(MicrosoftConnection)
                    .where(
                        col(MicrosoftConnection.user_id) == user_id,
                        col(MicrosoftConnection.status) == ConnectionStatus.CONNECTED,
                    )
                    .values(token_cache=seal(changed, settings))
                )
                session.commit()
        return access

    return token
