"""The production start: a frontend built once, served by N Granian workers on one port.

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
from typing import Any

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
    os.environ["GRANIAN_WORKERS"] = str(workers)
    problems = serve_problems(settings, web_dir())
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    from reflex_base.constants import Env
    from reflex_base.environment import environment

    # Set in the environment, so every worker Granian starts reads them too.
    environment.REFLEX_ENV_MODE.set(Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)
    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    environment.REFLEX_USE_GRANIAN.set(True)
    print(f"serving on http://{host}:{port} with {workers} worker(s)", flush=True)
    _granian(host, port, workers).serve()
    return 0


def _granian(host: str, port: int, workers: int) -> Any:
    """Reflex's production Granian server, plus one thing it leaves out: a worker that dies
    (killed, out of memory) is started again instead of stopping the whole server. Tab
    states live in Redis, so the others and its replacement carry on."""
    import multiprocessing

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server
    from reflex.utils import exec as reflex_exec

    start_method = reflex_exec._backend_start_method()
    if start_method is not None:
        multiprocessing.set_start_method(start_method, force=True)
        # Fork from a process that has imported the app: workers share its pages.
        if start_method == "fork" and not reflex_exec._preload_for_fork(None):
            multiprocessing.set_start_method("spawn", force=True)
    return Server(
        target=reflex_exec.get_app_instance_from_file(),
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_level=LogLevels(os.environ.get("GRANIAN_LOG_LEVEL", "warning")),
        log_dictconfig=reflex_exec._granian_log_dictconfig(),
        workers=workers,
        respawn_failed_workers=True,
    )
