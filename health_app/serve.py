"""The production start: a frontend built once, served by N uvicorn workers on one port.

`reflex run --env prod` compiles and builds the frontend at every start (about a minute,
a Node toolchain in the image, and a start that can fail on build errors). A container
builds it once (`health-app build-frontend`, at image build time) and each start only
serves it (`health-app serve`): the workers mount `.web/build/client` beside the event
socket, as `reflex run --single-port` does, without compiling anything.

The build bakes the backend's address into the pages. Reflex's client replaces a
`localhost` host by the page's own, and behind https drops the port too, so an image
built for `http://localhost:8000` works at any https address a proxy gives it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

from health_app.config import Settings, refuse_unsafe_production, worker_problems


def web_dir() -> Path:
    """Where Reflex keeps the compiled frontend (REFLEX_WEB_WORKDIR, default `.web`)."""
    return Path(os.environ.get("REFLEX_WEB_WORKDIR", ".web"))


def built_pages(web: Path) -> Path:
    return web / "build" / "client"


def build_frontend(address: str) -> int:
    """Compile the app and build its pages for a backend reached at `address`."""
    env = dict(os.environ, REFLEX_API_URL=address)
    command = [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip"]
    done = subprocess.run([*command, "--env", "prod"], env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        return done.returncode
    if not (built_pages(web_dir()) / "index.html").is_file():
        print(f"error: the build left no pages in {built_pages(web_dir())}", file=sys.stderr)
        return 1
    print(f"frontend built in {built_pages(web_dir())} for {address}")
    return 0


def serve_problems(settings: Settings, web: Path) -> list[str]:
    problems = list(worker_problems(settings))
    if not (built_pages(web) / "index.html").is_file():
        problems.append(
            f"the frontend is not built ({built_pages(web)} has no index.html): run "
            "`health-app build-frontend` first"
        )
    return problems


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    """Serve the built frontend and the backend with `workers` processes (never returns
    until they stop). Migrations are a separate step: `health-app db upgrade`."""
    refuse_unsafe_production(settings)
    os.environ["WEB_CONCURRENCY"] = str(workers)
    problems = serve_problems(settings, web_dir())
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    from reflex_base.constants import Env
    from reflex_base.environment import environment

    # Set in the environment, so every worker process reads them too.
    environment.REFLEX_ENV_MODE.set(Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)
    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    if workers > 1 and not _port_free(host, port):
        print(f"error: {host}:{port} is in use", file=sys.stderr)
        return 1
    print(f"serving on http://{host}:{port} with {workers} worker(s)", flush=True)
    _run_workers(host, port, workers)
    return 0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _port_free(host: str, port: int) -> bool:
    """Nothing listens on the port, not even a server whose sockets would let ours join
    theirs (SO_REUSEPORT): a plain bind fails on any of them."""
    with socket.socket(_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _own_listening_socket(config: Config) -> socket.socket:
    sock = socket.socket(_family(config.host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((config.host, config.port))
    return sock


class _OwnSocketWorker(multiprocess.Process):
    """A uvicorn worker that listens on a socket of its own, on the shared port
    (SO_REUSEPORT): the kernel then spreads new connections evenly among the workers.

    On one socket shared by all, each worker's accept loop takes every connection that
    is waiting when it wakes, so a burst (tabs reconnecting after a deploy, the load
    benchmark's ramp) landed 30/70 or 84/166 on two workers and the busier one set
    everyone's latency (250 tabs split 84/166: p95 291 ms; split 123/127: 122 ms). A
    killed worker's socket closes with it: new connections go to the living workers.
    """

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            own = _own_listening_socket(self.config)
        except OSError as exc:
            logging.getLogger("uvicorn.error").error(
                "cannot listen on %s:%s: %s", self.config.host, self.config.port, exc
            )
            sys.exit(STARTUP_FAILURE)
        super().target([own])


# A stopping worker closes its event sockets (tabs reconnect to another) and waits this
# long for requests in flight.
SHUTDOWN_SECONDS = 10


def _run_workers(host: str, port: int, workers: int) -> None:
    """uvicorn's supervisor with `workers` processes on one socket, even for one: a worker
    that dies (killed, out of memory) is started again while the others carry on (tab
    states live in Redis). Only a worker that fails before serving stops the server.

    uvicorn rather than Granian, Reflex's default: the same events per second on this
    app, and an open event socket costs about 40 KB instead of 180 (Granian's reader
    holds a 128 KiB buffer per socket), which is most of what a connected tab costs.
    The event sockets speak through websockets' sans-I/O protocol: in four interleaved
    pairs of benchmarks/bench_load.py runs on one worker it answered 13-52 % more
    dashboard loads per second than wsproto, at the same memory per tab (+2 KB).
    No WebSocket compression: its zlib state would cost more than the socket itself.
    Several workers each listen on a socket of their own (`_OwnSocketWorker`).
    """
    from reflex.utils import exec as reflex_exec

    config = Config(
        reflex_exec.get_app_instance_from_file(),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        # The client address is the connection's: X-Forwarded-For is not taken on trust.
        proxy_headers=False,
        server_header=False,
        # The app writes one access line per request itself (health_app/logs.py).
        access_log=False,
        log_config=None,
        log_level=os.environ.get("UVICORN_LOG_LEVEL", "warning"),
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    if workers == 1:  # its one socket stays open while it restarts: connections wait
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    # uvicorn (pinned 0.54.0) builds every worker, the restarted ones too, from this name.
    multiprocess.Process = _OwnSocketWorker
    multiprocess.Multiprocess(config, sockets=[]).run()
