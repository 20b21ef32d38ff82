"""The security-header middleware on a small ASGI app: headers on every answer, and a
policy that allows a page's own inline scripts by hash and nothing else."""

from __future__ import annotations

import base64
import gzip
import hashlib
import warnings
from typing import Any

import brotli
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from health_app.config import Settings
from health_app.http_security import SecurityHeaders, content_security_policy

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

THEME = "document.documentElement.dataset.theme = 'light';"
ENTRY = 'import "/assets/app.js";'
PAGE = f"""<!doctype html><html><head><script>{THEME}</script>
<script type="module">{ENTRY}</script>
<script src="/assets/vendor.js"></script></head><body>hi</body></html>"""


def _sha(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def _client(settings: Settings, backend: str = "") -> Any:
    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE)

    async def zipped(_: Request) -> Response:
        return Response(
            gzip.compress(PAGE.encode()),
            media_type="text/html",
            headers={"Content-Encoding": "gzip"},
        )

    async def brotli_page(_: Request) -> Response:
        return Response(
            brotli.compress(PAGE.encode()),
            media_type="text/html",
            headers={"Content-Encoding": "br"},
        )

    async def api(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def asset(_: Request) -> Response:
        return Response("export{}", media_type="text/javascript")

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/zipped", zipped),
            Route("/brotli", brotli_page),
            Route("/api", api),
            Route("/assets/{name}", asset),
        ],
    )
    wrapped = SecurityHeaders(app, lambda: settings, backend=lambda: backend)
    return TestClient(wrapped, base_url="http://127.0.0.1")  # type: ignore[arg-type]


def test_every_answer_carries_the_headers() -> None:
    client = _client(Settings(public_base_url="http://127.0.0.1:3000"))
    for path in ("/", "/zipped", "/api"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "camera=()" in headers["permissions-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # plain http


def test_inline_scripts_are_allowed_by_their_hash_only() -> None:
    client = _client(Settings(public_base_url="http://127.0.0.1:3000"))
    # The static server sends brotli or gzip to browsers that ask.
    for path in ("/", "/zipped", "/brotli"):
        response = client.get(path, headers={"accept-encoding": "identity"})
        policy = response.headers["content-security-policy"]
        script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
        assert f"'sha256-{_sha(THEME)}'" in script_src
        assert f"'sha256-{_sha(ENTRY)}'" in script_src
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert len(script_src.split()) == 1 + 1 + 2  # the name, 'self' and two hashes
        assert response.content.endswith(b"</html>")  # httpx decodes gzip and brotli


def test_https_adds_hsts_and_the_socket_and_backend_origins_are_allowed() -> None:
    settings = Settings(public_base_url="https://clinic.example", dev_mode=False)
    client = _client(settings, backend="https://api.clinic.example")
    headers = client.get("/").headers
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    policy = headers["content-security-policy"]
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src "))
    assert "wss://clinic.example" in connect and "wss://api.clinic.example" in connect
    assert "https://api.clinic.example" in next(
        d for d in policy.split("; ") if d.startswith("img-src ")
    )


def test_azure_blob_links_are_allowed_as_images_and_frames() -> None:
    settings = Settings(
        public_base_url="http://127.0.0.1:3000",
        storage_backend="azure",
        azure_storage_connection_string=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ),
    )
    policy = content_security_policy(settings)
    assert "frame-src 'self' http://127.0.0.1:3000 http://127.0.0.1:10000" in policy


def test_a_page_the_server_sends_from_disk_keeps_its_body_and_gets_its_hashes(
    tmp_path: Any,
) -> None:
    """A server may send static files with the ASGI pathsend extension: the page
    must reach the browser whole, with the hashes of its scripts (before: an empty page)."""
    import asyncio

    page = tmp_path / "find.html.gz"
    page.write_bytes(gzip.compress(PAGE.encode()))

    async def static_server(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-encoding", b"gzip"),
                    (b"content-length", str(page.stat().st_size).encode()),
                ],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(page)})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    settings = Settings(public_base_url="http://127.0.0.1:3000")
    middleware = SecurityHeaders(static_server, lambda: settings, backend=lambda: "")
    asyncio.run(middleware({"type": "http", "path": "/find/", "headers": []}, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert headers["content-length"] == str(page.stat().st_size)
    assert f"'sha256-{_sha(THEME)}'" in headers["content-security-policy"]


def test_hashed_assets_are_cached_for_a_year_and_nothing_else_is() -> None:
    client = _client(Settings(public_base_url="http://127.0.0.1:3000"))
    hashed = client.get("/assets/_dashboard_._index-IQBh_u6q.js").headers
    assert hashed["cache-control"] == "public, max-age=31536000, immutable"
    for path in ("/assets/app.js", "/", "/api"):
        assert "immutable" not in client.get(path).headers.get("cache-control", "")
