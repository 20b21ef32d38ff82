"""A local stand-in for a Twilio-compatible Messages API: records requests, scripted replies."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Recorded:
    path: str
    form: dict[str, str]
    auth: tuple[str, str]


@dataclass
class Reply:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StandIn:
    requests: list[Recorded] = field(default_factory=list)
    # Replies to give before the default 201, consumed one per request.
    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: int = 0


@contextmanager
def sms_standin() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            raw = self.headers.get("Authorization", "").removeprefix("Basic ")
            user, _, password = (
                base64.b64decode(raw).decode().partition(":") if raw else ("", "", "")
            )
            with state.lock:
                state.requests.append(Recorded(self.path, form, (user, password)))
                if state.replies:
                    reply = state.replies.pop(0)
                else:
                    state.accepted += 1
                    reply = Reply(201, {"sid": f"SM{state.accepted:032d}", "status": "queued"})
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
