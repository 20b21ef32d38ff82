"""Page addresses are served from the page's own file, without a redirect first."""

from __future__ import annotations

import warnings
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from health_app.http_pages import CanonicalPages, page_file

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _build(tmp_path: Path) -> Path:
    """The shape of a production build: each page as `name/index.html` and `name.html`."""
    pages = tmp_path / "client"
    for name in ("login", "admin/users"):
        (pages / name).mkdir(parents=True)
        (pages / name / "index.html").write_text(f"<p>{name}</p>")
        (pages / f"{name}.html").write_text(f"<p>{name}</p>")
    (pages / "assets").mkdir()
    (pages / "assets" / "app-AbCdEf12.js").write_text("export{}")
    (tmp_path / "secret.html").write_text("not a page")
    return pages.resolve()


def test_a_page_address_answers_at_once_with_the_page(tmp_path: Path) -> None:
    pages = _build(tmp_path)
    static = Starlette(routes=[Mount("/", app=StaticFiles(directory=pages, html=True))])
    plain = TestClient(static, follow_redirects=False)
    assert plain.get("/login").status_code == 307  # what the static server alone does
    client = TestClient(CanonicalPages(static, lambda: pages), follow_redirects=False)
    for address, text in (("/login", "login"), ("/admin/users", "admin/users")):
        answer = client.get(address, params={"next": "/x"})
        assert (answer.status_code, answer.text) == (200, f"<p>{text}</p>")
    assert client.get("/login/").status_code == 200
    assert client.get("/assets/app-AbCdEf12.js").text == "export{}"
    assert client.get("/nowhere").status_code == 404


def test_only_pages_of_the_build_are_rewritten(tmp_path: Path) -> None:
    pages = _build(tmp_path)
    assert page_file(pages, "/login") == "/login.html"
    for path in ("/", "/login/", "/login.html", "/assets/app", "/_event", "/../secret", "/x"):
        assert page_file(pages, path) is None, path
