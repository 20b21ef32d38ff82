"""Reflex configuration; every value comes from health_app.config (the environment)."""

import reflex as rx

from health_app.config import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="health_app",
    db_url=_settings.database_url,
    cors_allowed_origins=list(_settings.cors_allowed_origins),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
