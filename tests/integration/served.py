"""Serve an ASGI stand-in on 127.0.0.1 from a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`app` on 127.0.0.1:`port` (HTTPS when given a key + certificate PEM) until stop()."""

    def __init__(self, app: ASGIApp, port: int, *, tls_pem: str = "") -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ssl_keyfile=tls_pem or None,
            ssl_certfile=tls_pem or None,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stand-in did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
