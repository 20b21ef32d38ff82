"""Files: a 20 MB upload and download through the local backend and through Azurite.

The upload goes through the real service path (begin_upload -> feed chunks -> finish)
reading its source from disk chunk by chunk, as the upload handler receives it. Reported:
- upload throughput (MB/s), download throughput of the short-lived link over HTTP (the
  local route under uvicorn, Azurite's SAS), and the link's issue time (it reads the whole
  file back to check its SHA-256 first);
- peak memory growth while uploading 1 MiB chunks, against the goal of less than 2x the
  chunk size: tracemalloc in this process (Python allocations, where chunks and blocks
  live) and RSS sampled every 2 ms in a fresh process (after a warm-up upload). The Azure
  block is 1 MiB here, so each chunk is staged as it comes; 64 KiB chunks (the shape
  Reflex streams) are gathered into a block first: growth then is ~2 blocks, printed too.
  Throughput goals (20 MB/s) are our own: the issue sets none.

Usage: python -m benchmarks.bench_files [--azurite URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlmodel import Session, select

from benchmarks.common import record, row
from health_app.config import Settings, get_settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.http_files import file_routes
from health_app.migrations import upgrade
from health_app.models import Appointment
from health_app.services.files import upload, visit_files
from health_app.services.files.azure_storage import AzureBlobStorage
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import Storage
from health_app.services.people import display_name
from health_app.services.views import Actor

MiB = 1024 * 1024
FILE_BYTES = 20 * MiB
CHUNK = 1 * MiB
SMALL_CHUNK = 64 * 1024
AZURITE_KEY = (  # Azurite's published development account key (Microsoft's docs)
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def source_file(folder: Path) -> Path:
    """20 MB that pass as an MP4 (a video straight to storage, no image decoding)."""
    path = folder / "clip.mp4"
    with path.open("wb") as f:
        f.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        f.write((FILE_BYTES - 24).to_bytes(4, "big") + b"mdat")
        remaining = FILE_BYTES - 32
        while remaining:
            n = min(remaining, 4 * MiB)
            f.write(os.urandom(n))
            remaining -= n
    return path


class RssSampler:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def start_route_server(storage: LocalStorage) -> tuple[str, Callable[[], None]]:
    import uvicorn
    from starlette.applications import Starlette

    app = Starlette(routes=file_routes(lambda: storage, get_settings))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join()

    return f"http://127.0.0.1:{port}", stop


def setup_visit(url: str) -> tuple[Any, Actor, int, Settings]:
    engine = make_engine(url)
    upgrade(url)
    settings = Settings(database_url=url)
    now = datetime.now(UTC) - timedelta(days=2)
    with Session(engine) as s:
        demo.seed_demo(s, settings=settings, now=now, doctors=1, patients=2)
        s.commit()
        demo.seed_schedule(s, now=now, days=1, booked_fraction=1.0)
        s.commit()
        appt = s.exec(select(Appointment).order_by(Appointment.id)).first()  # type: ignore[arg-type]
        assert appt is not None
        from health_app.models import User

        patient = s.get(User, appt.patient_id)
        assert patient is not None and appt.id is not None
        actor = Actor(user_id=patient.id, role=patient.role, display_name=display_name(patient))  # type: ignore[arg-type]
        return engine, actor, appt.id, settings


def upload_once(
    engine: Any,
    storage: Storage,
    actor: Actor,
    visit_id: int,
    settings: Settings,
    source: Path,
    chunk: int,
    *,
    measure: str = "",
) -> tuple[float, int, int]:
    """(seconds, file id, peak memory growth in bytes) for one upload.

    measure: "" (timing only), "tracemalloc" (Python allocations) or "rss" (process RSS
    sampled every 2 ms; meaningful in a fresh process, see --rss-child).
    """
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as s:
        batch = upload.begin_upload(
            s, actor=actor, appointment_id=visit_id, settings=settings, storage=storage, now=now
        )
        s.commit()
    sampler = RssSampler() if measure == "rss" else None
    if measure == "tracemalloc":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    if sampler:
        sampler.__enter__()
    with open(source, "rb") as f:
        offset = 0
        while piece := f.read(chunk):
            batch.feed("clip.mp4", offset, piece)
            offset += len(piece)
            del piece
        batch.end_file()
    peak = 0
    if measure == "tracemalloc":
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    if sampler:
        sampler.__exit__()
        peak = sampler.growth
    with Session(engine, expire_on_commit=False) as s:
        (view,) = upload.finish_upload(s, actor=actor, batch=batch, now=now)
        s.commit()
    return time.perf_counter() - t0, view.id, peak


def download_once(
    engine: Any, storage: Storage, actor: Actor, file_id: int, settings: Settings
) -> tuple[float, float]:
    """(link issue seconds, HTTP download seconds) with the body streamed and counted."""
    t0 = time.perf_counter()
    with Session(engine) as s:
        url = visit_files.issue_link(
            s,
            actor=actor,
            file_id=file_id,
            inline=False,
            settings=settings,
            storage=storage,
            now=datetime.now(UTC),
        ).url
        s.commit()
    t1 = time.perf_counter()
    size = 0
    with httpx.stream("GET", url, timeout=60) as response:
        response.raise_for_status()
        for part in response.iter_bytes(CHUNK):
            size += len(part)
    t2 = time.perf_counter()
    assert size == FILE_BYTES, size
    return t1 - t0, t2 - t1


def rss_in_fresh_process(backend: str, azurite: str, chunk: int) -> int:
    """Peak RSS growth of a fresh interpreter uploading the file (warmed up by one small
    upload first, so imports and connections are not counted)."""
    out = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "benchmarks.bench_files",
            "--rss-child",
            backend,
            "--azurite",
            azurite,
            "--chunk",
            str(chunk),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip().splitlines()[-1])


def make_storage(backend: str, folder: Path, azurite: str) -> Storage:
    if backend == "local":
        return LocalStorage(folder / "private", folder / "public", secret="bench")  # noqa: S106
    tag = uuid.uuid4().hex[:8]
    return AzureBlobStorage(
        connection_string=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={azurite.rstrip('/')}/devstoreaccount1;"
        ),
        private_container=f"bench-{tag}",
        public_container=f"bench-public-{tag}",
        block_bytes=CHUNK,
    )


def prepare(folder: Path) -> tuple[Path, Any, Actor, int, Settings]:
    source = source_file(folder)
    engine, actor, visit_id, settings = setup_visit(f"sqlite:///{folder / 'bench.db'}")
    settings = Settings(
        database_url=settings.database_url,
        file_max_bytes=FILE_BYTES,
        visit_files_max_bytes=40 * FILE_BYTES,
    )
    return source, engine, actor, visit_id, settings


def rss_child(backend: str, azurite: str, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, engine, actor, visit_id, settings = prepare(folder)
        storage = make_storage(backend, folder, azurite)
        small = folder / "small.mp4"
        small.write_bytes(source.read_bytes()[: 64 * 1024])
        upload_once(engine, storage, actor, visit_id, settings, small, chunk)  # warm-up
        _, _, growth = upload_once(
            engine, storage, actor, visit_id, settings, source, chunk, measure="rss"
        )
        engine.dispose()
    print(growth)


def run_backend(
    name: str,
    storage: Storage,
    engine: Any,
    actor: Actor,
    visit_id: int,
    settings: Settings,
    source: Path,
    azurite: str,
) -> list[dict[str, Any]]:
    mb = FILE_BYTES / MiB
    uploads, downloads, issues, file_ids = [], [], [], []
    for _ in range(3):
        seconds, file_id, _ = upload_once(engine, storage, actor, visit_id, settings, source, CHUNK)
        uploads.append(seconds)
        file_ids.append(file_id)
    for file_id in file_ids:
        issue, seconds = download_once(engine, storage, actor, file_id, settings)
        issues.append(issue)
        downloads.append(seconds)
    peaks = {}
    for chunk in (CHUNK, SMALL_CHUNK):
        _, _, traced = upload_once(
            engine, storage, actor, visit_id, settings, source, chunk, measure="tracemalloc"
        )
        peaks[chunk] = (traced, rss_in_fresh_process(name, azurite, chunk))
    print(
        f"[{name}] upload best of 3 {min(uploads):.3f} s, download best of 3 "
        f"{min(downloads):.3f} s, link issue (SHA-256 check) {min(issues) * 1000:.0f} ms"
    )
    for chunk, (traced, rss) in peaks.items():
        print(
            f"[{name}] chunks of {chunk // 1024} KiB: peak growth {traced / MiB:.2f} MiB "
            f"(tracemalloc), {rss / MiB:.2f} MiB (RSS, fresh process)"
        )
    traced, rss = peaks[CHUNK]
    return [
        row("file_upload_20mb_MBps", name, mb / min(uploads), "MB/s", 20, higher_is_better=True),
        row(
            "file_download_20mb_MBps", name, mb / min(downloads), "MB/s", 20, higher_is_better=True
        ),
        row("file_link_issue_20mb_ms", name, min(issues) * 1000, "ms", 1000),
        row("file_upload_mem_growth_1MiB_chunks", name, traced / MiB, "MiB", 2 * CHUNK / MiB),
        row("file_upload_rss_growth_1MiB_chunks", name, rss / MiB, "MiB", 2 * CHUNK / MiB),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--azurite", default=os.environ.get("TEST_AZURITE_URL", ""))
    parser.add_argument("--postgres", default="")  # accepted for bench.sh; files use SQLite
    parser.add_argument("--rss-child", default="")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.azurite, args.chunk)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, engine, actor, visit_id, settings = prepare(folder)
        local = make_storage("local", folder, "")
        assert isinstance(local, LocalStorage)
        base, stop = start_route_server(local)
        local.base_url = base
        try:
            rows += run_backend("local", local, engine, actor, visit_id, settings, source, "")
        finally:
            stop()
        if args.azurite:
            azure = make_storage("azurite", folder, args.azurite)
            rows += run_backend(
                "azurite", azure, engine, actor, visit_id, settings, source, args.azurite
            )
        else:
            print("no Azurite (--azurite URL or TEST_AZURITE_URL): Azure figures skipped")
        engine.dispose()
    record(rows)


if __name__ == "__main__":
    main()
