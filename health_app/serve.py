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

import os
import subprocess
import sys
from pathlib import Path

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
    print(f"serving on http://{host}:{port} with {workers} worker(s)", flush=True)
    _run_workers(host, port, workers)
    return 0


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
    """
    import uvicorn
    from reflex.utils import exec as reflex_exec
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
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
    Multiprocess(config, sockets=[config.bind_socket()]).run()
