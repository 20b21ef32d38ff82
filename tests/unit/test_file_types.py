"""Type by content, the streaming DOCX check, names, link tokens and storage settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from health_app.config import load_settings
from health_app.services.files import file_types as ft
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import (
    LinkInvalid,
    StorageError,
    check_blob_name,
    content_disposition,
    new_blob_name,
)
from tests.files_support import (
    EXE_AS_JPG,
    HTML_AS_PDF,
    docx_bytes,
    heic_bytes,
    jpeg_with_location,
    mov_bytes,
    mp4_bytes,
    pdf_bytes,
    plain_zip,
    png_bytes,
)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (jpeg_with_location(), ft.JPEG),
        (png_bytes(), ft.PNG),
        (b"GIF89a" + b"\x00" * 60, ft.GIF),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 50, ft.WEBP),
        (heic_bytes(), ft.HEIC),
        (pdf_bytes(), ft.PDF),
        (docx_bytes(), ft.DOCX),
        (mp4_bytes(), ft.MP4),
        (mov_bytes(), ft.MOV),
        (b"\x00\x00\x00\x08wide" + b"\x00" * 60, ft.MOV),  # old QuickTime, no ftyp
        (EXE_AS_JPG, None),
        (HTML_AS_PDF, None),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 40, None),
        (b"\x7fELF" + b"\x00" * 60, None),
        (b"", None),
    ],
)
def test_sniff_decides_by_content(data: bytes, kind: ft.FileKind | None) -> None:
    assert ft.sniff(data[: ft.HEAD_BYTES]) is kind


@pytest.mark.parametrize("step", [1, 7, 29, 30, 31, 64, 331, 4096])
def test_docx_check_survives_any_chunking(step: int) -> None:
    for data, expected in ((docx_bytes(), True), (docx_bytes(macros=True), False)):
        scanner = ft.ZipEntryScanner()
        for i in range(0, len(data), step):
            scanner.feed(data[i : i + step])
        assert scanner.is_docx() is expected, (step, expected)
    scanner = ft.ZipEntryScanner()
    scanner.feed(plain_zip())
    assert not scanner.is_docx()


def test_truncated_docx_is_not_a_docx() -> None:
    scanner = ft.ZipEntryScanner()
    scanner.feed(docx_bytes()[:-40])  # the central directory is cut off
    assert not scanner.is_docx()


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("scan.JPG", ft.JPEG, "scan.JPG"),
        ("scan.png", ft.JPEG, "scan.jpg"),
        ("notes.exe", ft.PDF, "notes.exe.pdf"),
        ("a/b\\c.pdf", ft.PDF, "c.pdf"),
        ("\u202egnp.pdf", ft.PDF, "gnp.pdf"),
        ("  . ", ft.MP4, "file.mp4"),
        ("x" * 500, ft.PDF, "x" * 146 + ".pdf"),
    ],
)
def test_clean_file_name(raw: str, kind: ft.FileKind, expected: str) -> None:
    assert ft.clean_file_name(raw, kind) == expected


def test_content_disposition_quotes_any_name() -> None:
    header = content_disposition('a"b\\c;d%e\r\nf é.pdf', inline=False)
    assert header == (
        'attachment; filename="a_b_c_d_e__f _.pdf"; '
        "filename*=UTF-8''a%22b%5Cc%3Bd%25e%0D%0Af%20%C3%A9.pdf"
    )
    assert "\r" not in header and "\n" not in header


def test_blob_names_are_generated_and_checked() -> None:
    name = new_blob_name()
    assert check_blob_name(name) == name and len(name) == 35
    assert check_blob_name(new_blob_name("doctors/", ".jpg")).endswith(".jpg")
    for bad in ("../etc/passwd", "/abs", "a//b", ".link-secret", "A/B", "a/../b", "x" * 101):
        with pytest.raises(StorageError):
            check_blob_name(bad)


def test_local_link_tokens(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "p", tmp_path / "q")
    link = storage.private_link(
        "ab/cd", filename="a.pdf", content_type="application/pdf", inline=True, sha256="0" * 64
    )
    token = link.url.rsplit("/", 1)[1]
    claims = storage.check_link(token)
    assert (claims.blob, claims.filename, claims.inline) == ("ab/cd", "a.pdf", True)
    # The key was generated on first use and is shared by a second instance on that disk.
    assert (tmp_path / "p" / ".link-secret").stat().st_mode & 0o077 == 0
    assert LocalStorage(tmp_path / "p", tmp_path / "q").check_link(token) == claims
    with pytest.raises(LinkInvalid):
        LocalStorage(tmp_path / "p", tmp_path / "q", secret="other").check_link(token)
    for bad in ("", ".", "x.y", token + "x", "!!!." + token.split(".")[1]):
        with pytest.raises(LinkInvalid):
            storage.check_link(bad)


def test_storage_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AZURE_", "STORAGE_", "FILE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STORAGE_BACKEND", "azure")
    with pytest.raises(ValueError, match="AZURE_STORAGE_CONNECTION_STRING"):
        load_settings()
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "clinic")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    monkeypatch.setenv("FILE_MAX_MB", "5")
    settings = load_settings()
    assert settings.storage_backend == "azure" and settings.file_max_bytes == 5 * 1024 * 1024
    assert "a2V5" not in repr(settings)
    monkeypatch.setenv("FILE_LINK_SECONDS", "600")
    with pytest.raises(ValueError, match="FILE_LINK_SECONDS"):
        load_settings()
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    with pytest.raises(ValueError, match="STORAGE_BACKEND"):
        load_settings()
