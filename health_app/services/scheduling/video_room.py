"""Video rooms of our own, for video visits without a Teams meeting."""

from __future__ import annotations

import secrets

from health_app.config import Settings


def new_room_url(settings: Settings) -> str:
    # 128 bits: a room name nobody can guess or enumerate.
    return f"{settings.video_room_base_url.rstrip('/')}/HealthApp-{secrets.token_urlsafe(16)}"
