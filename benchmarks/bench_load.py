"""Load: many logged-in tabs on the production shape (`scripts/container-start.sh serve`,
pages built once, uvicorn workers behind one port on loopback, PostgreSQL and Redis),
with 1 worker and with one worker per core.

Data: `health-app seed-demo` with 20 doctors, 500 patients (more if more clients) and 14
days of weekly hours, then a quarter of the open times booked, patients in turn, so
dashboards have visits. Every client is its own demo user, logged in once through the
login form (patients and doctors mixed, as the users list falls).

Figures, for each worker count:
- for each --clients count, that many tabs (opened in gentle batches, each with a
  doctor's booking page loaded), each sending one event a second at a random phase, in
  turn: the dashboard's load, a doctor search, a day's times on the booking page
  (`choose_day`); the round trip of each (sent -> the update that carries its answer),
  p50 / p95 / p99 per kind and overall, errors (no answer within 5 s: an error, and its
  round trip counted when it comes; a dropped socket; an error toast), events/s
  answered, and the server's RSS (supervisor + workers; Redis apart) growth per
  connected tab, counted from the warmed-up app before any client;
- saturation: --saturation tabs sending dashboard loads back to back, events/s and p95;
- soak (the run with the most workers): --soak sessions of connect, one dashboard load,
  disconnect, 25 at a time, in two rounds; the server's RSS growth per session in the
  second round (a leak grows it every round; a first round may only warm the allocator),
  and RSS after an idle time. Reflex keeps a closed tab's state (in Redis here) until
  STATE_EXPIRY_MINUTES: the server's memory should return, Redis holds the states until
  they expire.

A page load counts as answered when its data arrive, but a tab sends its next event only
after the load's `is_hydrated` flip (see benchmarks/socket_clients.py: sent earlier, a
navigation can freeze a tab for the Redis lock's 10 s).

The load generator runs in --generators processes (one asyncio loop each, the clients split
between them) on the same machine: on a 2-core machine it competes with the server for
the cores, and its CPU is printed beside the server's.

Goals (the 2-core machine): 500 clients at 1 event/s with p95 <= 50 ms, p99 <= 150 ms,
0 errors and <= 200 KB per client; dashboard saturation >= 450 events/s with all workers
(450 / cores with one worker). Soak: the server keeps <= 20 KB per closed session (our bar:
a tenth of a connected tab's budget).

Profiling: with BENCH_LOAD_PROFILE=<folder>, py-spy samples every worker during the
saturation run (only while it holds the interpreter lock, so the samples are CPU) and
leaves one file of collapsed stacks per worker there.

Usage: python -m benchmarks.bench_load [--postgres URL] [--clients 50,100,250,500]
       [--seconds 20] [--soak 5000] [--workers N [--only]] [--generators G]
Without --postgres only one worker runs (SQLite, tab states in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvloop

from benchmarks.common import machine, record, row
from benchmarks.socket_clients import EventNames, Tab, Unanswered, event_names, session_cookie
from health_app.dev.cluster import RunningApp, redis_server, served

DOCTORS, PATIENTS, DAYS = 20, 500, 14
BOOKED = 0.25
TIMEOUT = 5.0  # an answer later than this is an error
LATE = 25.0  # then how long a tab waits for it before it is given up
RAMP_BATCH = 20  # tabs each generator opens at once while ramping up
LOGINS_AT_ONCE = 8
KINDS = ("dashboard", "search", "slots")
GOAL_P95, GOAL_P99, GOAL_KB, GOAL_SATURATION, GOAL_SOAK_KB = 50, 150, 200, 450, 20
COMMAND_SECONDS = 900  # a generator that says nothing for this long is stuck


@dataclass(frozen=True)
class Client:
    cookie: str
    doctor_id: int  # whose booking page the tab has open


# --- the load generator: one process, one asyncio loop, its share of the clients -------


@dataclass
class Driven:
    tab: Tab
    client: Client
    free_days: list[str]
    broken: bool = False
    drop_counted: bool = False


@dataclass
class Tally:
    """What one generator saw during one run; merged by the parent."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: Counter[str] = field(default_factory=Counter)
    late_ticks: int = 0


class Generator:
    """One load-generator process: its share of the clients, each with a tab of its own,
    driven from one asyncio loop as the parent commands."""

    def __init__(
        self,
        conn: Connection,
        base: str,
        names: EventNames,
        clients: list[Client],
        specialties: list[str],
        seed: int,
    ) -> None:
        self.conn, self.base, self.names = conn, base, names
        self.clients, self.specialties = clients, specialties
        self.rng = random.Random(seed)
        self.driven: list[Driven] = []

    async def serve(self) -> None:
        """Commands from the parent until "close"; waiting for one in a thread keeps the
        loop answering the server's pings."""
        loop = asyncio.get_running_loop()
        while True:
            command, args = await loop.run_in_executor(None, self.conn.recv)
            try:
                if command == "grow":
                    answer: dict[str, Any] = await self.grow(**args)
                elif command == "paced":
                    answer = await self.paced(**args)
                elif command == "saturate":
                    answer = await self.saturate(**args)
                elif command == "soak":
                    answer = await self.soak(**args)
                else:  # "disconnect", and "close" before the process ends
                    answer = await self.disconnect()
            except Exception:
                answer = {"failed": traceback.format_exc()}
            self.conn.send(answer)
            if command == "close":
                return

    async def _open(self, client: Client, errors: Counter[str]) -> None:
        tab = Tab(self.base, client.cookie, self.names)
        try:
            await tab.connect()
        except Exception as exc:
            errors[f"connect: {type(exc).__name__}"] += 1
            return
        try:
            free = await tab.open_booking(client.doctor_id, timeout=60)
        except Exception as exc:
            errors[f"booking page: {type(exc).__name__}"] += 1
            await tab.close()
            return
        self.driven.append(Driven(tab, client, free))

    async def grow(self, count: int) -> dict[str, Any]:
        """Open tabs (in batches) until `count` of this generator's clients have one."""
        errors: Counter[str] = Counter()
        todo = self.clients[len(self.driven) : count]
        for start in range(0, len(todo), RAMP_BATCH):
            await asyncio.gather(*(self._open(c, errors) for c in todo[start : start + RAMP_BATCH]))
            await asyncio.sleep(0.05)
        self._count_drops(errors)
        return {"connected": len(self._active()), "errors": dict(errors)}

    async def _send(self, d: Driven, kind: str) -> float:
        if kind == "dashboard":
            return await d.tab.load_dashboard(TIMEOUT)
        if kind == "search":
            # Half the searches list every doctor, half one specialty.
            specialty = "" if self.rng.random() < 0.5 else self.rng.choice(self.specialties)
            return await d.tab.search({"specialty": specialty}, TIMEOUT)
        day = self.rng.choice(d.free_days) if d.free_days else date.today().isoformat()
        return await d.tab.choose_day(d.client.doctor_id, day, TIMEOUT)

    async def _one(self, d: Driven, kind: str, tally: Tally) -> None:
        try:
            tally.samples[kind].append(await self._send(d, kind))
        except Unanswered:
            if d.tab.dropped:
                d.broken = True
                return
            tally.errors[f"no answer within {TIMEOUT:.0f} s"] += 1
            # A late answer still counts in the round trips: they show how late.
            late = await d.tab.late_answer(LATE)
            if late is None:
                tally.errors[f"no answer within {TIMEOUT + LATE:.0f} s (tab given up)"] += 1
                d.broken = True
            else:
                tally.samples[kind].append(late)
        except Exception as exc:
            if not d.tab.dropped:
                tally.errors[f"{kind}: {type(exc).__name__}: {exc}"[:120]] += 1
            d.broken = True

    def _active(self) -> list[Driven]:
        return [d for d in self.driven if not d.broken and not d.tab.dropped]

    def _count_drops(self, errors: Counter[str]) -> None:
        """Sockets the server closed since the last count (between runs too)."""
        for d in self.driven:
            if d.tab.dropped and not d.drop_counted:
                errors["socket dropped"] += 1
                d.drop_counted = d.broken = True

    async def _run(
        self, tabs: list[Driven], drive: Callable[[Driven, Tally], Awaitable[None]]
    ) -> dict[str, Any]:
        """Run `drive(d, tally)` for every tab; the tally, with the toasts and drops the
        tabs saw meanwhile."""
        tally = Tally()
        toasts = {id(d): d.tab.error_toasts for d in tabs}
        await asyncio.gather(*(drive(d, tally) for d in tabs))
        for d in tabs:
            tally.errors["error toast"] += d.tab.error_toasts - toasts[id(d)]
        self._count_drops(tally.errors)
        return {
            "samples": tally.samples,
            "errors": {k: v for k, v in tally.errors.items() if v},
            "late_ticks": tally.late_ticks,
            "tabs": len(tabs),
        }

    async def paced(self, start_at: float, seconds: float) -> dict[str, Any]:
        """Every tab sends one event a second from a random phase, kinds in turn, one at a
        time (a person waits for the page before the next click): a tick missed behind a
        slow answer is skipped, and counted."""
        stop_at = start_at + seconds

        async def drive(d: Driven, tally: Tally) -> None:
            at = start_at + self.rng.random()
            turn = self.rng.randrange(len(KINDS))
            while at < stop_at and not d.broken:
                await asyncio.sleep(max(0.0, at - time.time()))
                await self._one(d, KINDS[turn % len(KINDS)], tally)
                turn, at = turn + 1, at + 1
                behind = time.time() - at
                if behind > 0:
                    missed = math.ceil(behind)
                    tally.late_ticks += missed
                    at += missed

        return await self._run(self._active(), drive)

    async def saturate(self, count: int, start_at: float, seconds: float) -> dict[str, Any]:
        """The first `count` tabs load the dashboard back to back."""
        stop_at = start_at + seconds

        async def drive(d: Driven, tally: Tally) -> None:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            while time.time() < stop_at and not d.broken:
                await self._one(d, "dashboard", tally)

        return await self._run(self._active()[:count], drive)

    async def soak(self, sessions: int, at_once: int, cookies: list[str]) -> dict[str, Any]:
        """`sessions` tabs that connect, load the dashboard once and disconnect."""
        queue = iter(range(sessions))
        tally = Tally()

        async def worker() -> None:
            for n in queue:
                tab = Tab(self.base, cookies[n % len(cookies)], self.names)
                try:
                    await tab.connect()
                    tally.samples["dashboard"].append(await tab.load_dashboard(TIMEOUT))
                    tally.errors["error toast"] += tab.error_toasts
                except Unanswered:
                    tally.errors[f"no answer within {TIMEOUT:.0f} s"] += 1
                except Exception as exc:
                    tally.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                finally:
                    with suppress(Exception):
                        await tab.close()

        await asyncio.gather(*(worker() for _ in range(at_once)))
        return {"samples": tally.samples, "errors": {k: v for k, v in tally.errors.items() if v}}

    async def disconnect(self) -> dict[str, Any]:
        for start in range(0, len(self.driven), RAMP_BATCH * 5):
            batch = self.driven[start : start + RAMP_BATCH * 5]
            await asyncio.gather(*(d.tab.close() for d in batch), return_exceptions=True)
        self.driven = []
        return {}


def generator_main(
    conn: Connection,
    base: str,
    names: EventNames,
    clients: list[Client],
    specialties: list[str],
    seed: int,
) -> None:
    # uvloop, as the server runs, and orjson (socket_clients.py): the generators share the
    # cores the server is measured on; 27 -> 23 % of a core at 500 tabs (interleaved pairs).
    uvloop.run(Generator(conn, base, names, clients, specialties, seed).serve())


class Generators:
    """The generator processes, seen from the parent: client i goes to process i % count,
    so the first k clients of each share are the first k clients overall."""

    def __init__(
        self,
        count: int,
        base: str,
        names: EventNames,
        clients: list[Client],
        specialties: list[str],
    ) -> None:
        # Spawned, not forked: the parent holds threads and the app's imports.
        ctx = multiprocessing.get_context("spawn")
        self.count = count
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for g in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=generator_main,
                args=(theirs, base, names, clients[g::count], specialties, 1000 + g),
                daemon=True,
            )
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def share(self, total: int, g: int) -> int:
        return total // self.count + (1 if g < total % self.count else 0)

    def ask(self, command: str, args: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for pipe, a in zip(self.pipes, args, strict=True):
            pipe.send((command, a))
        answers = []
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            if not pipe.poll(COMMAND_SECONDS):
                raise TimeoutError(f"generator {proc.pid} did not answer {command!r}")
            answer = pipe.recv()
            if "failed" in answer:
                raise RuntimeError(f"generator {proc.pid} failed:\n{answer['failed']}")
            answers.append(answer)
        return answers

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(p.pid) for p in self.procs if p.is_alive()]

    def stop(self) -> None:
        with suppress(Exception):
            self.ask("close", [{} for _ in self.pipes])
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# --- the parent: the app, the users, the steps, the figures -----------------------------


def _percentile(samples: list[float], q: int) -> float:
    if not samples:
        return float("nan")
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


def _merge(answers: list[dict[str, Any]]) -> tuple[dict[str, list[float]], Counter[str]]:
    samples: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: Counter[str] = Counter()
    for a in answers:
        for kind, values in a["samples"].items():
            samples[kind] += values
        errors.update(a["errors"])
    return samples, errors


class Meter:
    """CPU and memory of the server (supervisor + workers, and each worker), of Redis, of
    PostgreSQL's backends for our database, of the generators and of the whole machine
    over one measured run."""

    def __init__(
        self, app: RunningApp, redis_pid: int | None, gens: Generators, database: str
    ) -> None:
        self.app, self.redis_pid, self.gens, self.database = app, redis_pid, gens, database
        self._t0 = 0.0
        self._cpu: dict[str, float] = {}
        self._machine = psutil.cpu_times()

    def server(self) -> list[psutil.Process]:
        sup = self.app.supervisor()
        return [sup, *sup.children(recursive=True)]

    def redis(self) -> list[psutil.Process]:
        return [psutil.Process(self.redis_pid)] if self.redis_pid else []

    @staticmethod
    def _sum(procs: list[psutil.Process], what: str) -> float:
        total = 0.0
        for p in procs:
            with suppress(psutil.NoSuchProcess):
                if what == "rss":
                    total += p.memory_info().rss / 2**20
                else:
                    t = p.cpu_times()
                    total += t.user + t.system
        return total

    def rss(self) -> tuple[float, float]:
        """MB: the server's and Redis's."""
        return self._sum(self.server(), "rss"), self._sum(self.redis(), "rss")

    def postgres(self) -> list[psutil.Process]:
        """The backends serving our database ("postgres: user database host ...")."""
        found = []
        for p in psutil.process_iter(["cmdline"]):
            words = " ".join(p.info["cmdline"] or []).split()
            if len(words) > 2 and words[0] == "postgres:" and words[2] == self.database:
                found.append(p)
        return found

    def _cpus(self) -> dict[str, float]:
        cpus = {
            "server": self._sum(self.server(), "cpu"),
            "redis": self._sum(self.redis(), "cpu"),
            "postgres": self._sum(self.postgres(), "cpu"),
            "generators": self._sum(self.gens.processes(), "cpu"),
        }
        for worker in self.app.workers():
            cpus[f"worker {worker.pid}"] = self._sum([worker], "cpu")
        return cpus

    def start(self) -> None:
        self._t0, self._cpu, self._machine = time.monotonic(), self._cpus(), psutil.cpu_times()

    def stop(self) -> dict[str, float]:
        """% of one core for each part; the machine's busy share of all its cores."""
        elapsed = time.monotonic() - self._t0
        now, m0, m1 = self._cpus(), self._machine, psutil.cpu_times()
        used = {k: (now[k] - self._cpu.get(k, now[k])) / elapsed * 100 for k in now}
        used["machine"] = (_busy(m1) - _busy(m0)) / max(1e-9, sum(m1) - sum(m0)) * 100
        # What other work on the machine took (a shared machine's noise), by difference.
        ours = sum(used[k] for k in ("server", "postgres", "redis", "generators"))
        used["others"] = max(0.0, used["machine"] * (os.cpu_count() or 1) - ours)
        return used


def _busy(t: Any) -> float:
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


@dataclass
class Step:
    clients: int
    connected: int
    spread: str  # connections per worker, as the kernel spread them
    seconds: float
    samples: dict[str, list[float]]
    errors: Counter[str]
    late_ticks: int
    cpu: dict[str, float]
    rss: tuple[float, float]
    kb_per_client: float
    redis_kb_per_client: float

    @property
    def all(self) -> list[float]:
        return [s for k in KINDS for s in self.samples[k]]

    @property
    def rate(self) -> float:
        return len(self.all) / self.seconds


def _ms_per_event(cpu: dict[str, float], rate: float) -> float:
    """The server's CPU per answered event: comparable between runs at different loads,
    unlike latency, which depends on how close to its ceiling the machine runs."""
    return cpu["server"] * 10 / rate if rate else 0.0


def _cpu_words(cpu: dict[str, float], rate: float | None = None) -> str:
    workers = "/".join(f"{v:.0f}" for k, v in cpu.items() if k.startswith("worker "))
    per_event = f"; {_ms_per_event(cpu, rate):.2f} ms per event" if rate else ""
    return (
        f"CPU (% of a core): server {cpu['server']:.0f} (workers {workers}{per_event}), "
        f"PostgreSQL {cpu['postgres']:.0f}, Redis {cpu['redis']:.0f}, generators "
        f"{cpu['generators']:.0f}, anything else {cpu['others']:.0f}; machine "
        f"{cpu['machine']:.0f} % busy"
    )


def _figures(samples: list[float]) -> str:
    return "/".join(f"{_percentile(samples, q):.1f}" for q in (50, 95, 99))


def _print_step(s: Step) -> None:
    kinds = ", ".join(f"{k} {_figures(s.samples[k])}" for k in KINDS)
    errors = ", ".join(f"{k}: {v}" for k, v in s.errors.items()) or "none"
    print(
        f"  {s.clients} clients ({s.connected} connected; per worker {s.spread}): "
        f"{s.rate:.1f} events/s answered, "
        f"p50/p95/p99 {_figures(s.all)} ms ({kinds}); errors {sum(s.errors.values())} "
        f"({errors}); ticks skipped behind slow answers {s.late_ticks}\n"
        f"    RSS server {s.rss[0]:.0f} MB ({s.kb_per_client:.0f} KB per client), Redis "
        f"{s.rss[1]:.0f} MB ({s.redis_kb_per_client:.0f} KB per client); "
        f"{_cpu_words(s.cpu, s.rate)}",
        flush=True,
    )


async def _log_in(base: str, emails: list[str]) -> list[str]:
    """One login per user (the password check is slow on purpose: a few at a time)."""
    limit = asyncio.Semaphore(LOGINS_AT_ONCE)
    async with httpx.AsyncClient(timeout=120) as http:

        async def one(email: str) -> str:
            async with limit:
                return await session_cookie(http, base, email)

        return await asyncio.gather(*(one(e) for e in emails))


async def _warm_up(base: str, names: EventNames, clients: list[Client]) -> None:
    """A few tabs at once send each kind of event once: every worker's lazy imports and
    caches are in before the baseline memory is read. (Three tabs one after another had
    all gone to one worker of two: the other's warm-up was then counted as the first
    clients' memory.)"""

    async def one(c: Client) -> None:
        tab = Tab(base, c.cookie, names)
        await tab.connect()
        days = await tab.open_booking(c.doctor_id)
        await tab.load_dashboard()
        await tab.search({"specialty": ""})
        await tab.choose_day(c.doctor_id, days[0] if days else date.today().isoformat())
        await tab.close()

    await asyncio.gather(*(one(c) for c in clients))


def _prepare_data(db_url: str, patients: int) -> tuple[list[str], list[int], list[str]]:
    """Book a quarter of the open times of the seeded days (patients in turn, time-major
    so nobody has two at once); the users' emails in a fixed shuffled order, doctor ids,
    specialties."""
    from sqlmodel import Session, col, select

    from health_app.db import make_engine
    from health_app.models import Appointment, DoctorProfile, Role, Slot, User

    now = datetime.now(UTC)
    rng = random.Random(4_500)
    engine = make_engine(db_url)
    with Session(engine) as s:
        busy = select(Appointment.patient_id)
        free_patients = s.exec(
            select(User.id)
            .where(User.role == Role.PATIENT, col(User.id).not_in(busy))
            .order_by(col(User.id))
        ).all()
        slots = s.exec(
            select(Slot)
            .where(Slot.status == "open", col(Slot.starts_at) > now + timedelta(hours=1))
            # The seeded days only: the scheduler's first tick may be adding more meanwhile.
            .where(col(Slot.starts_at) < now + timedelta(days=DAYS))
            .order_by(col(Slot.starts_at), col(Slot.doctor_id))
        ).all()
        turn = 0
        for slot in slots:
            if rng.random() >= BOOKED or slot.id is None:
                continue
            patient = free_patients[turn % len(free_patients)]
            turn += 1
            assert patient is not None
            slot.status = "booked"
            s.add(slot)
            s.add(
                Appointment(
                    doctor_id=slot.doctor_id,
                    patient_id=patient,
                    slot_id=slot.id,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    format="video",
                    consultation_type="general",
                    reason="Load benchmark visit",
                    created_at=now,
                    updated_at=now,
                )
            )
        s.commit()
        emails = list(
            s.exec(select(User.email).where(col(User.role).in_([Role.PATIENT, Role.DOCTOR]))).all()
        )
        doctors = [int(d) for d in s.exec(select(DoctorProfile.user_id)).all()]
        specialties = sorted(set(s.exec(select(DoctorProfile.specialty)).all()))
    engine.dispose()
    emails.sort()
    rng.shuffle(emails)  # doctors and patients mixed, the same way every run
    print(f"  booked {turn} visits for {len(free_patients)} patients", flush=True)
    return emails, doctors, specialties


def _prepared(db_url: str, patients: int) -> tuple[list[str], list[int], list[str]]:
    """`_prepare_data`, tried again while the scheduler's first tick (it extends every
    doctor's open times, one long write) keeps SQLite locked."""
    from sqlalchemy.exc import OperationalError

    for _ in range(12):
        try:
            return _prepare_data(db_url, patients)
        except OperationalError as exc:
            print(f"  booking the visits: {str(exc).splitlines()[0]}; again in 5 s")
            time.sleep(5)
    return _prepare_data(db_url, patients)


@contextmanager
def _database(pg_url: str, work: Path) -> Iterator[tuple[str, str]]:
    """A database of our own on the given PostgreSQL server (other benches drop the
    schema of theirs), or a SQLite file; (url, name for the results)."""
    if not pg_url:
        yield f"sqlite:///{work / 'load.db'}", "sqlite"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield (
            make_url(pg_url).set(database=name).render_as_string(hide_password=False),
            ("postgresql"),
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def _redis(work: Path, wanted: bool) -> Iterator[tuple[str, int | None]]:
    if not wanted:
        yield "", None
        return
    with redis_server(work / "redis") as url:
        yield url, int((work / "redis" / "redis.pid").read_text().strip())


def _redis_keys(url: str) -> int | None:
    if not url:
        return None
    done = subprocess.run(  # noqa: S603 (the Redis client, fixed arguments)
        ["redis-cli", "-u", url, "dbsize"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return int(done.stdout.strip()) if done.stdout.strip().isdigit() else None


@dataclass
class Plan:
    clients: list[int]
    seconds: float
    saturation: int
    saturation_seconds: float
    soak: int
    soak_at_once: int
    soak_idle: float
    generators: int


def _step(
    meter: Meter, gens: Generators, count: int, seconds: float, base_rss: tuple[float, float]
) -> Step:
    grown = gens.ask("grow", [{"count": gens.share(count, g)} for g in range(gens.count)])
    connected = sum(a["connected"] for a in grown)
    spread = "/".join(str(n) for n in sorted(meter.app.connections_by_worker().values()))
    setup_errors: Counter[str] = Counter()
    for a in grown:
        setup_errors.update(a["errors"])
    time.sleep(2)
    start_at = time.time() + 1
    meter.start()
    answers = gens.ask("paced", [{"start_at": start_at, "seconds": seconds}] * gens.count)
    cpu = meter.stop()
    samples, errors = _merge(answers)
    rss = meter.rss()
    return Step(
        clients=count,
        connected=connected,
        spread=spread,
        seconds=seconds,
        samples=samples,
        errors=errors + setup_errors,
        late_ticks=sum(a["late_ticks"] for a in answers),
        cpu=cpu,
        rss=rss,
        kb_per_client=(rss[0] - base_rss[0]) * 1024 / max(1, connected),
        redis_kb_per_client=(rss[1] - base_rss[1]) * 1024 / max(1, connected),
    )


def _saturate(meter: Meter, gens: Generators, count: int, seconds: float) -> dict[str, Any]:
    gens.ask("grow", [{"count": gens.share(count, g)} for g in range(gens.count)])
    start_at = time.time() + 1
    meter.start()
    profilers = _profile_workers(meter.app.workers(), seconds)
    answers = gens.ask(
        "saturate",
        [
            {"count": gens.share(count, g), "start_at": start_at, "seconds": seconds}
            for g in range(gens.count)
        ],
    )
    cpu = meter.stop()
    for p in profilers:
        p.wait(timeout=60)
    samples, errors = _merge(answers)
    loads = samples["dashboard"]
    figures = {
        "rate": len(loads) / seconds,
        "p50": _percentile(loads, 50),
        "p95": _percentile(loads, 95),
        "errors": sum(errors.values()),
        "cpu": cpu,
    }
    print(
        f"  saturation, {count} clients loading the dashboard back to back: "
        f"{figures['rate']:.0f} events/s, p50 {figures['p50']:.1f} ms, p95 "
        f"{figures['p95']:.1f} ms, errors {figures['errors']} {dict(errors) or ''}\n"
        f"    {_cpu_words(cpu, figures['rate'])}",
        flush=True,
    )
    return figures


def _profile_workers(
    workers: list[psutil.Process], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """With BENCH_LOAD_PROFILE=<folder>: py-spy samples each worker while it holds the
    interpreter lock during saturation, and writes its collapsed stacks there (one file a
    worker, `py-spy record --format raw --gil`)."""
    folder = os.environ.get("BENCH_LOAD_PROFILE", "")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not folder:
        return []
    if not Path(spy).exists():
        print("  BENCH_LOAD_PROFILE: py-spy is not installed (pip install py-spy)", flush=True)
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(  # noqa: S603 - py-spy on our own workers, fixed arguments
            [
                spy,
                "record",
                "--pid",
                str(w.pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--gil",
                "--duration",
                str(max(1, int(seconds) - 1)),
                "--output",
                str(Path(folder) / f"worker-{w.pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for w in workers
    ]


def _soak(
    meter: Meter, gens: Generators, plan: Plan, cookies: list[str], redis_url: str
) -> dict[str, Any]:
    """Two rounds of half the sessions each. Python keeps freed memory for reuse, so a
    first round may grow RSS once; what a leak would show is the second round growing it
    again: that growth per session is the figure."""
    gens.ask("disconnect", [{} for _ in range(gens.count)])  # the connected tabs go first
    time.sleep(plan.soak_idle)
    before, keys_before = meter.rss(), _redis_keys(redis_url)
    rounds = (plan.soak // 2, plan.soak - plan.soak // 2)
    rss: list[float] = []
    samples: list[float] = []
    errors: Counter[str] = Counter()
    t0 = time.monotonic()
    meter.start()
    for sessions in rounds:
        answers = gens.ask(
            "soak",
            [
                {
                    "sessions": gens.share(sessions, g),
                    "at_once": max(1, gens.share(plan.soak_at_once, g)),
                    "cookies": cookies,
                }
                for g in range(gens.count)
            ],
        )
        found, failed = _merge(answers)
        samples += found["dashboard"]
        errors += failed
        time.sleep(5)  # the last sockets' close reaches the workers
        rss.append(meter.rss()[0])
    cpu = meter.stop()
    elapsed = time.monotonic() - t0 - 5 * len(rounds)
    time.sleep(plan.soak_idle)
    idle, keys_idle = meter.rss(), _redis_keys(redis_url)
    kb = (rss[1] - rss[0]) * 1024 / rounds[1]
    states = (
        f"Redis {before[1]:.0f} -> {idle[1]:.0f} MB, keys {keys_before} -> {keys_idle} (closed "
        "tabs' states kept until STATE_EXPIRY_MINUTES)"
        if redis_url
        else "no Redis: closed tabs' states stay in the worker until STATE_EXPIRY_MINUTES"
    )
    print(
        f"  soak: {plan.soak} sessions (connect, dashboard, disconnect; {plan.soak_at_once} "
        f"at a time) in {elapsed:.0f} s ({plan.soak / elapsed:.0f}/s), dashboard p95 "
        f"{_percentile(samples, 95):.1f} ms, errors {sum(errors.values())} "
        f"{dict(errors) or ''}\n"
        f"    server RSS {before[0]:.0f} MB before (the load's tabs closed {plan.soak_idle:.0f} s "
        f"earlier), {rss[0]:.0f} after {rounds[0]} sessions, {rss[1]:.0f} after {rounds[1]} "
        f"more ({kb:+.1f} KB per session), {idle[0]:.0f} after {plan.soak_idle:.0f} s idle\n"
        f"    {states}\n    {_cpu_words(cpu)}",
        flush=True,
    )
    return {"kb": kb, "errors": sum(errors.values())}


def _label(workers: int, most: int) -> str:
    return "1_worker" if workers == 1 else "n_workers" if workers == most else f"{workers}_workers"


def run_workers(workers: int, most: int, pg_url: str, plan: Plan) -> list[dict[str, Any]]:
    """Every figure for one worker count, on an app of its own; a failed part is printed
    and the others still run."""
    names = event_names()
    label = _label(workers, most)
    rows: list[dict[str, Any]] = []
    patients = max(PATIENTS, max(plan.clients))
    seed = ["--doctors", str(DOCTORS), "--patients", str(patients), "--days", str(DAYS)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        _database(pg_url, Path(tmp)) as (db_url, db_name),
        _redis(Path(tmp), bool(pg_url)) as (redis_url, redis_pid),
    ):
        settings = {"DATABASE_URL": db_url, "MAIL_BACKEND": "dev"}
        if redis_url:
            settings["REFLEX_REDIS_URL"] = redis_url
        print(f"[{workers} worker(s), {db_name}] starting the app", flush=True)
        with served(Path(tmp), settings, workers=workers, seed=seed) as app:
            emails, doctor_ids, specialties = _prepared(db_url, patients)
            needed = max([*plan.clients, plan.saturation])
            t0 = time.monotonic()
            cookies = asyncio.run(_log_in(app.base, emails[:needed]))
            print(f"  {len(cookies)} users logged in in {time.monotonic() - t0:.0f} s")
            clients = [Client(c, doctor_ids[i % len(doctor_ids)]) for i, c in enumerate(cookies)]
            asyncio.run(_warm_up(app.base, names, clients[: 8 * workers]))
            gens = Generators(plan.generators, app.base, names, clients, specialties)
            try:
                database = db_url.rsplit("/", 1)[-1] if db_name == "postgresql" else ""
                meter = Meter(app, redis_pid, gens, database)
                time.sleep(3)
                base_rss = meter.rss()
                print(
                    f"  warmed-up app before any client: server {base_rss[0]:.0f} MB "
                    f"({len(app.workers())} worker processes), Redis {base_rss[1]:.0f} MB",
                    flush=True,
                )
                steps: list[Step] = []
                for count in sorted({*plan.clients, plan.saturation} - {0}):
                    try:
                        if count == plan.saturation:
                            sat = _saturate(meter, gens, count, plan.saturation_seconds)
                            cores = os.cpu_count() or 1
                            goal = GOAL_SATURATION * min(workers, cores) / cores
                            rows.append(
                                row(
                                    f"dashboard_saturation_events_per_s_{label}",
                                    db_name,
                                    sat["rate"],
                                    "events/s",
                                    round(goal),
                                    higher_is_better=True,
                                )
                            )
                        if count in plan.clients:
                            steps.append(_step(meter, gens, count, plan.seconds, base_rss))
                            _print_step(steps[-1])
                    except Exception:
                        print(f"  {count} clients: failed\n{traceback.format_exc()}", flush=True)
                for s in steps:
                    rows += _step_rows(s, label, db_name)
                _print_table(steps, workers, db_name)
                if plan.soak and workers == most:
                    try:
                        soak = _soak(meter, gens, plan, cookies[:20], redis_url)
                        rows += [
                            row(
                                f"soak_{plan.soak}_sessions_kb_per_session_{label}",
                                db_name,
                                soak["kb"],
                                "KB",
                                GOAL_SOAK_KB,
                            ),
                            row(
                                f"soak_{plan.soak}_sessions_errors_{label}",
                                db_name,
                                soak["errors"],
                                "errors",
                                0,
                            ),
                        ]
                    except Exception:
                        print(f"  soak: failed\n{traceback.format_exc()}", flush=True)
            finally:
                gens.stop()
    return rows


def _step_rows(s: Step, label: str, db_name: str) -> list[dict[str, Any]]:
    prefix = f"load_{s.clients}_clients"
    return [
        row(f"{prefix}_p95_{label}", db_name, _percentile(s.all, 95), "ms", GOAL_P95),
        row(f"{prefix}_p99_{label}", db_name, _percentile(s.all, 99), "ms", GOAL_P99),
        row(f"{prefix}_errors_{label}", db_name, sum(s.errors.values()), "errors", 0),
        row(
            f"{prefix}_events_per_s_{label}",
            db_name,
            s.rate,
            "events/s",
            round(s.clients * 0.95),
            higher_is_better=True,
        ),
        row(f"{prefix}_kb_per_client_{label}", db_name, s.kb_per_client, "KB", GOAL_KB),
    ]


def _print_table(steps: list[Step], workers: int, db_name: str) -> None:
    print(
        f"\n  {workers} worker(s), {db_name}: round trip in ms (p50/p95/p99); CPU in % of a "
        "core (server, PostgreSQL, generators, anything else), machine in % of all cores"
    )
    head = f"  {'clients':>7} {'events/s':>8} {'all':>16} " + " ".join(f"{k:>16}" for k in KINDS)
    print(
        head + f" {'errors':>6} {'KB/client':>9} {'server%':>7} {'ms/event':>8} {'pg%':>4} "
        f"{'gen%':>5} {'else%':>5} {'machine%':>8}"
    )
    for s in steps:
        kinds = " ".join(f"{_figures(s.samples[k]):>16}" for k in KINDS)
        print(
            f"  {s.clients:>7} {s.rate:>8.1f} {_figures(s.all):>16} {kinds} "
            f"{sum(s.errors.values()):>6} {s.kb_per_client:>9.0f} {s.cpu['server']:>7.0f} "
            f"{_ms_per_event(s.cpu, s.rate):>8.2f} "
            f"{s.cpu['postgres']:>4.0f} {s.cpu['generators']:>5.0f} {s.cpu['others']:>5.0f} "
            f"{s.cpu['machine']:>8.0f}"
        )
    print(flush=True)


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="")
    parser.add_argument("--clients", default="50,100,250,500")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--saturation", type=int, default=50, help="clients; 0 for none")
    parser.add_argument("--saturation-seconds", type=float, default=15)
    parser.add_argument("--soak", type=int, default=5000, help="sessions; 0 for none")
    parser.add_argument("--soak-at-once", type=int, default=25)
    parser.add_argument("--soak-idle", type=float, default=30)
    parser.add_argument("--workers", type=int, default=cores)
    parser.add_argument("--generators", type=int, default=min(4, cores))
    parser.add_argument(
        "--only", action="store_true", help="only --workers workers, not one worker first"
    )
    args = parser.parse_args()
    plan = Plan(
        clients=[int(c) for c in args.clients.split(",") if c.strip()],
        seconds=args.seconds,
        saturation=args.saturation,
        saturation_seconds=args.saturation_seconds,
        soak=args.soak,
        soak_at_once=args.soak_at_once,
        soak_idle=args.soak_idle,
        generators=args.generators,
    )
    # Several workers share tab states through Redis and need PostgreSQL.
    counts = sorted({1, args.workers}) if args.postgres else [1]
    if args.only and args.postgres:
        counts = [args.workers]
    if not args.postgres and args.workers > 1:
        print("no --postgres: one worker only (SQLite keeps tab states in the process)")
    print(f"machine: {machine()}")
    print(
        f"load generator: {plan.generators} process(es) on the same {cores} core(s) as the "
        "server; its CPU is printed beside the server's",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for workers in counts:
        try:
            rows += run_workers(workers, max(counts), args.postgres, plan)
        except Exception:
            print(f"[{workers} worker(s)] failed\n{traceback.format_exc()}", flush=True)
    if rows:
        record(rows)


if __name__ == "__main__":
    main()
