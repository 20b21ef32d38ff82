"""Shared pieces of the file tests: sample files, a visit, both storage backends.

Azurite comes from TEST_AZURITE_URL (`make test` starts one); under CI a missing Azurite
fails the run, locally those cases skip with the reason.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session
from starlette.applications import Starlette

from health_app.config import Settings, get_settings
from health_app.http_files import file_routes
from health_app.services.files.azure_storage import AzureBlobStorage
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import Storage
from health_app.services.scheduling import booking, search
from health_app.services.views import Actor
from tests.services.scheduling_helpers import open_day, people, request

TOMORROW = date(2026, 3, 3)
AZURITE_URL = os.environ.get("TEST_AZURITE_URL", "").rstrip("/")
# Azurite's published development account (Microsoft's docs): tests only, never deployed.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_connection_string() -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={AZURITE_URL}/devstoreaccount1;"
    )


def require_azurite() -> None:
    if AZURITE_URL:
        return
    if os.environ.get("CI"):
        pytest.fail("TEST_AZURITE_URL is not set: run the tests through `make test`.")
    pytest.skip("no Azurite (TEST_AZURITE_URL unset); `make test` starts one")


# --- sample files ---------------------------------------------------------------------------

GPS_LAT = (43.0, 39.0, 7.0)


def jpeg_with_location(size: tuple[int, int] = (640, 480)) -> bytes:
    """A phone-like photo: EXIF with GPS and a maker, a comment and XMP with coordinates."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = 6  # rotate 90: the stored image must come out upright (480 x 640)
    exif[0x8825] = {1: "N", 2: GPS_LAT, 3: "W", 4: (79.0, 23.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(
        out,
        "JPEG",
        exif=exif.tobytes(),
        comment=b"taken at 12 Elm Street",
        xmp=b"<x:xmpmeta><exif:GPSLatitude>43,39.1N</exif:GPSLatitude></x:xmpmeta>",
    )
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 120, 0, 200)).save(out, "PNG")
    return out.getvalue()


def heic_bytes() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()  # Pillow saves HEIF only through pillow-heif
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "navy").save(out, "HEIF")
    return out.getvalue()


def pdf_bytes(padding: int = 0) -> bytes:
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
    return body + b"%" + b"x" * padding + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def docx_bytes(*, macros: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document><w:body>Referral</w:body></w:document>")
        if macros:
            z.writestr("word/vbaProject.bin", b"\x00" * 64)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.exe", b"MZ" + b"\x00" * 100)
    return out.getvalue()


def mp4_bytes(payload: int = 4096) -> bytes:
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return ftyp + (8 + payload).to_bytes(4, "big") + b"mdat" + b"\x00" * payload


def mov_bytes(payload: int = 4096) -> bytes:
    ftyp = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "
    return ftyp + (8 + payload).to_bytes(4, "big") + b"mdat" + b"\x01" * payload


EXE_AS_JPG = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
HTML_AS_PDF = b"<html><body><script>alert(document.cookie)</script></body></html>" * 3


def chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# --- a visit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    doctor: Actor
    patient: Actor
    other_patient: Actor
    visit_id: int  # patient's visit with the doctor
    other_visit_id: int  # other_patient's visit with the same doctor
    settings: Settings


def make_world(session: Session, settings: Settings, now: datetime) -> World:
    cfg = replace(settings, booking_attempts_per_hour=1000)
    (doctor, _), (patient, other, *_) = people(session, cfg, now, patients=4)
    open_day(session, doctor, now, TOMORROW)
    free = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)
    visits = [
        booking.book_appointment(
            session, actor=who, request=request(slot.slot_id), settings=cfg, now=now
        ).id
        for who, slot in ((patient, free[0]), (other, free[1]))
    ]
    session.commit()
    return World(doctor, patient, other, visits[0], visits[1], settings)


# --- storage backends --------------------------------------------------------------------------


class _Holder:
    storage: Storage | None = None


class LocalServer:
    """Our file routes served by uvicorn on 127.0.0.1 (real HTTP, as in production)."""

    def __init__(self) -> None:
        import uvicorn

        self.holder = _Holder()
        app = Starlette(routes=file_routes(lambda: self.holder.storage, get_settings))  # type: ignore[arg-type, return-value]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("file route server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    yield server
    server.stop()


def local_storage(root: Path, base_url: str = "", **kw: object) -> LocalStorage:
    return LocalStorage(
        root / "private", root / "public", secret="test-link-secret", base_url=base_url, **kw
    )  # type: ignore[arg-type]


def azurite_storage(**kw: object) -> AzureBlobStorage:
    require_azurite()
    tag = uuid.uuid4().hex[:10]
    return AzureBlobStorage(
        connection_string=azurite_connection_string(),
        private_container=f"patient-{tag}",
        public_container=f"public-{tag}",
        block_bytes=256 * 1024,
        **kw,  # type: ignore[arg-type]
    )
