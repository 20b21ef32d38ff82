"""Links the browser follows to our backend: private file links and public assets."""

from __future__ import annotations

from urllib.parse import urlsplit

import reflex as rx

from health_app.config import get_settings
from health_app.services.files.doctor_photo import doctor_photo_url
from health_app.services.files.storage import get_storage


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def reachable(url: str) -> str:
    """Local-backend links are paths on the backend. Behind one port (`make run`, a proxy)
    they work as they are; when the pages come from another origin than the backend (a
    separate frontend server), they need the backend's origin in front."""
    if not url.startswith("/"):
        return url
    config = rx.config.get_config()
    api, site = config.api_url or "", config.deploy_url or ""
    if api and site and _origin(api) != _origin(site):
        return _origin(api) + url
    return url


def photo_url(photo_blob: str) -> str:
    """A doctor's public photo ("" when there is none)."""
    if not photo_blob:
        return ""
    return reachable(doctor_photo_url(get_storage(get_settings()), photo_blob))
