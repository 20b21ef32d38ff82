"""The production shape as child processes on loopback, for the scale test and the load
benchmark: a private Redis, the pages built once, and `scripts/container-start.sh serve`
(the image's entry point) with N uvicorn workers behind one port.

Which worker serves a connection is the kernel's choice; `connections_by_worker` reads
each worker's sockets (psutil) to tell where clients landed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "scripts" / "container-start.sh"
# Passed through from the caller's environment; everything else is set here or by the caller.
PASSED = ("HOME", "LANG", "LC_ALL", "TMPDIR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class RunningApp:
    base: str
    port: int
    server: subprocess.Popen[bytes]
    log: Path
    wanted_workers: int

    def supervisor(self) -> psutil.Process:
        return psutil.Process(self.server.pid)

    def workers(self) -> list[psutil.Process]:
        # Not multiprocessing's resource tracker, which a spawning supervisor starts too.
        return [
            child
            for child in self.supervisor().children()
            if "resource_tracker" not in " ".join(_command_line(child))
        ]

    def connections_by_worker(self) -> dict[int, int]:
        """Open client connections on the app's port, per worker process id."""
        held: dict[int, int] = {}
        for worker in self.workers():
            try:
                found = worker.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            count = sum(1 for c in found if c.laddr.port == self.port and c.status == "ESTABLISHED")
            if count:
                held[worker.pid] = count
        return held

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/_health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for_workers(self, seconds: float = 60) -> None:
        if self.server.poll() is not None:
            raise RuntimeError(f"the app stopped:\n{self.log.read_text()[-3000:]}")
        wait_until(
            lambda: len(self.workers()) == self.wanted_workers,
            seconds=seconds,
            what=f"{self.wanted_workers} workers",
        )
        wait_until(self.ready, seconds=seconds, what="/_health to answer 200")


def _command_line(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private Redis (scripts/redis.sh) until the block ends; yields its URL."""
    port = free_port()
    script = str(ROOT / "scripts" / "redis.sh")
    subprocess.run([script, "start", str(folder), str(port)], check=True)  # noqa: S603
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        subprocess.run([script, "stop", str(folder), str(port)], check=False)  # noqa: S603


def _run(command: list[str], env: Mapping[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(  # noqa: S603 (our own scripts and this interpreter)
            command, cwd=ROOT, env=dict(env), stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")


@contextmanager
def served(
    work: Path,
    settings: Mapping[str, str],
    *,
    workers: int,
    seed: list[str] | None = None,
) -> Iterator[RunningApp]:
    """Migrate, seed (`health-app seed-demo` arguments), build the pages for a fresh
    loopback port and serve them with `workers` processes until the block ends.
    `settings` holds the app's settings (DATABASE_URL, REFLEX_REDIS_URL, mail, ...)."""
    port = free_port()
    base = f"http://localhost:{port}"
    env = {name: os.environ[name] for name in PASSED if name in os.environ}
    env.update(
        PATH=f"{ROOT / '.venv' / 'bin'}:{ROOT / '.tools' / 'node_modules' / '.bin'}:"
        + os.environ.get("PATH", "/usr/bin:/bin"),
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_WEB_WORKDIR=str(work / "web"),
        PYTHONUNBUFFERED="1",
        DEV_MODE="true",
        PUBLIC_BASE_URL=base,
        CORS_ALLOWED_ORIGINS=f"{base},http://127.0.0.1:{port}",
        STORAGE_BACKEND="local",
        FILES_DIR=str(work / "files"),
        PUBLIC_FILES_DIR=str(work / "public"),
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
    )
    env.update(settings)
    env.setdefault("REFLEX_DB_URL", env.get("DATABASE_URL", ""))
    # A copy of the development build's packages saves the build a package install.
    if (ROOT / ".web" / "node_modules").is_dir() and not (work / "web").exists():
        shutil.copytree(
            ROOT / ".web",
            work / "web",
            symlinks=True,
            ignore=lambda folder, _names: ["build"] if Path(folder) == ROOT / ".web" else [],
        )
    # The steps before the start print what a developer reads (the demo logins, the build);
    # the server's own lines go to a file of their own.
    setup, log = work / "setup.log", work / "server.log"
    cli = [sys.executable, "-m", "health_app.cli"]
    _run([str(START), "migrate"], env, setup)
    if seed is not None:
        _run([*cli, "seed-demo", *seed], env, setup)
    _run([*cli, "build-frontend", "--address", base], env, setup)
    with log.open("ab") as out:
        server = subprocess.Popen(  # noqa: S603 (the image's entry point)
            [str(START), "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    running = RunningApp(base, port, server, log, workers)
    try:
        running.wait_for_workers()
        yield running
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
