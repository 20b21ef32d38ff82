"""What the server asks the browser to do besides changing state: toasts and clearing a file
picker. Reflex would send these as script to evaluate, which a strict Content-Security-Policy
(no 'unsafe-eval') refuses; here they are plain state that the page's own compiled code
watches (`components/client_bridge.py`).
"""

from __future__ import annotations

import reflex as rx

LEVELS = ("success", "info", "warning", "error")


class ClientState(rx.State):
    # A toast: shown when `toast_serial` changes.
    toast_serial: int = 0
    toast_level: str = "info"
    toast_text: str = ""
    # A file picker to clear: `rx.upload(id=...)`, cleared when `clear_serial` changes.
    clear_serial: int = 0
    clear_upload: str = ""

    @rx.event
    def toast(self, level: str, text: str) -> None:
        """Anyone may call it: it shows a message to the caller's own tab, as text."""
        self.toast_level = level if level in LEVELS else "info"
        self.toast_text = str(text)[:500]
        self.toast_serial += 1

    @rx.event
    def clear_files(self, upload_id: str) -> None:
        self.clear_upload = str(upload_id)[:64]
        self.clear_serial += 1


def toast_success(text: str) -> rx.event.EventSpec:
    return ClientState.toast("success", text)  # type: ignore[return-value]


def toast_info(text: str) -> rx.event.EventSpec:
    return ClientState.toast("info", text)  # type: ignore[return-value]


def toast_warning(text: str) -> rx.event.EventSpec:
    return ClientState.toast("warning", text)  # type: ignore[return-value]


def toast_error(text: str) -> rx.event.EventSpec:
    return ClientState.toast("error", text)  # type: ignore[return-value]


def clear_selected_files(upload_id: str) -> rx.event.EventSpec:
    return ClientState.clear_files(upload_id)  # type: ignore[return-value]
