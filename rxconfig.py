"""Reflex configuration; every value comes from health_app.config (the environment)."""

import reflex as rx
from reflex_base.constants import StateManagerMode

from health_app.config import get_settings, refuse_unsafe_production

_settings = get_settings()
# Every start of the app (and of each worker) reads this file first.
refuse_unsafe_production(_settings)

config = rx.Config(
    app_name="health_app",
    db_url=_settings.database_url,
    cors_allowed_origins=list(_settings.cors_allowed_origins),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # One worker keeps tab states in memory: the default disk manager rescans its folder
    # every few seconds (about 136 ms per scan at 20,000 tabs, measured), which kept an
    # idle backend busy. Several workers share them in Redis. Either way a tab's state
    # goes STATE_EXPIRY_MINUTES after its last event (longer than any session stays idle).
    state_manager_mode=StateManagerMode.REDIS
    if _settings.reflex_redis_url
    else StateManagerMode.MEMORY,
    redis_token_expiration=_settings.state_expiry_minutes * 60,
    # Pages and assets are compressed once at build time; browsers that take brotli get
    # it (about a fifth smaller than gzip for the JavaScript), the rest gzip.
    frontend_compression_formats=["brotli", "gzip"],
)
