"""Engine and sessions. Engines are created lazily: importing the app must not connect."""

from __future__ import annotations

import logging
import math
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.base import Executable
from sqlmodel import Session, SQLModel, create_engine

from health_app.config import get_settings

log = logging.getLogger(__name__)


def private_sqlite_file(url: str) -> None:
    """Create the database file readable by its owner only (0600): it holds password hashes
    and health card numbers. SQLite gives its -wal and -shm files the same mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


EARTH_RADIUS_KM = 6371.0088


def geo_km(
    lat1: float | None, lng1: float | None, lat2: float | None, lng2: float | None
) -> float | None:
    """Great-circle (haversine) distance in km; None when a point is missing."""
    if lat1 is None or lng1 is None or lat2 is None or lng2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine with the settings each backend needs for correct concurrent use."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin() decide transaction starts; see `begin_immediate`.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts; a power cut may lose the last commits only.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # PostgreSQL has the same function from migration 0013.
            dbapi_conn.create_function("geo_km", 4, geo_km, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front; a deferred transaction that reads,
            # then writes after another writer committed fails at once with "locked".
            conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', '')}")

        return engine
    engine = _postgres_engine(url, pool_size, max_overflow)
    reader = _postgres_engine(url, pool_size, max_overflow, reads_only=True)
    _readers[engine] = reader
    event.listen(engine, "engine_disposed", lambda _conn: reader.dispose())
    return engine


# The engine that read_scope uses for each PostgreSQL engine: its own pool, made with it.
_readers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


# The longest a read's statement may run. Quick reads run on a worker's event loop
# (state/unit_of_work.py), where every tab of the worker waits on them: a read that
# went wrong is cut short and shown as a failure instead of freezing the worker.
READ_TIMEOUT_MS = 5_000


def _postgres_engine(
    url: str, pool_size: int, max_overflow: int, *, reads_only: bool = False
) -> Engine:
    """A PostgreSQL engine; with `reads_only`, the one for read_scope.

    Reads run without a transaction block (autocommit): each statement is its own
    transaction, as it was under READ COMMITTED anyway, and the BEGIN and COMMIT round
    trips go. Those were two of a read's four or five, 40 % of the time a service thread
    held on to a dashboard or search read: in interleaved runs of benchmarks/bench_load.py
    on one worker, 12-17 % more dashboard loads per second at 10-14 % less CPU each.
    The server still refuses a write: the reader's connections default every transaction
    to READ ONLY, and they are a pool of their own, so no writer ever gets one.
    """
    # Each worker process has its own pools, one for reads and one for writes: workers x 2 x
    # (size + overflow), plus the scheduler's, must stay under the server's max_connections.
    # hide_parameters: a driver error's message would otherwise quote the statement's
    # values (names, emails) into the log.
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
        **({"isolation_level": "AUTOCOMMIT"} if reads_only else {}),
    )
    _ping_when_idle(engine)
    _cache_long_statements()

    @event.listens_for(engine, "connect")
    def _session_settings(dbapi_conn: Any, _record: Any) -> None:
        # Timestamps come back in UTC whatever the server's default zone, so reading them
        # needs no conversion (UTCDateTime) and no SQL depends on the server's setting.
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            if reads_only:
                cursor.execute("SET default_transaction_read_only = on")
                cursor.execute(f"SET statement_timeout = {READ_TIMEOUT_MS}")
        dbapi_conn.commit()

    return engine


# psycopg turns a statement's placeholders into PostgreSQL's once and caches the result,
# but only for statements up to 4 KiB. The dashboard's visit lists (one UNION ALL) and the
# doctor search are longer, and were parsed again on every call: a tenth of a dashboard
# read's Python time (profiled). Our statements are built once, so the set of texts is
# small, and the cache stays bounded (psycopg keeps 128).
LONGEST_CACHED_STATEMENT = 32 * 1024


def _cache_long_statements() -> None:
    import psycopg._queries

    psycopg._queries.MAX_CACHED_STATEMENT_LENGTH = LONGEST_CACHED_STATEMENT


# A pooled connection used within this many seconds is handed out without a ping: a ping
# on every checkout (pool_pre_ping) is one more round trip on every unit of work, a sixth
# of a booking's. A server restart or failover is still survived: the first statement on
# a dead connection fails, SQLAlchemy then drops every pooled connection, and the next
# unit of work connects afresh.
PING_AFTER_IDLE_SECONDS = 10.0


def ping(engine: Engine, dbapi_conn: Any) -> None:
    """A round trip on a connection idle for PING_AFTER_IDLE_SECONDS or more; raises
    DisconnectionError when the server has closed it."""
    try:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except engine.dialect.loaded_dbapi.Error as exc:
        raise DisconnectionError("a pooled connection was closed by the server") from exc


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        ping(engine, dbapi_conn)  # on failure the pool replaces it and tries again (3 times)


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, max_overflow: int) -> Engine:
    return make_engine(url, pool_size=pool_size, max_overflow=max_overflow)


def get_engine() -> Engine:
    settings = get_settings()
    return _engine_for(settings.database_url, settings.db_pool_size, settings.db_max_overflow)


def writer(engine: Engine) -> Engine:
    """The engine for units of work that may write: on SQLite they begin IMMEDIATE."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def require_id(row_id: int | None) -> int:
    """The primary key of a row that is in the database (loaded, or added and flushed).

    SQLModel types keys `int | None` because a new row has none until its first flush.
    """
    if row_id is None:
        raise RuntimeError("this row has no primary key yet: flush it first")
    return row_id


_KEPT = "kept_on_rollback"
_READ_ONLY = "read_only"
_AFTER_READ = "written_after_read"  # rows of a read that succeeded (the audit of a read)
_AFTER_READ_ALWAYS = "written_after_read_always"  # rows a refusal leaves (denied access)
_OUTBOX_DUE = "outbox_due"

# What a read leaves to be written after it: a row to merge, or a statement to run.
RowAfterRead = SQLModel | Executable


def mark_outbox_due(session: Session) -> None:
    """This unit of work made outbox rows due now: the caller kicks a delivery pass."""
    session.info[_OUTBOX_DUE] = True


def outbox_due(session: Session) -> bool:
    return bool(session.info.get(_OUTBOX_DUE))


F = TypeVar("F", bound=Callable[..., Any])


def reads_only(fn: F) -> F:
    """Marks a service that only reads: it runs in a `read_scope`, not a write transaction."""
    fn.__reads_only__ = True
    return fn


def is_reads_only(fn: Callable[..., Any]) -> bool:
    return bool(getattr(fn, "__reads_only__", False))


def waits_beyond_database(
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[F], F]:
    """Marks a service that may wait on more than the database (password hashing, Google
    Maps), always or `when` its keyword arguments say so: it runs on a thread pool of its
    own, never holding up the few threads quick database work shares (see
    state/unit_of_work.py). A service handed file storage is known as one already."""

    def mark(fn: F) -> F:
        fn.__waits_beyond_database__ = when or _always
        return fn

    return mark


def _always(_kwargs: dict[str, Any]) -> bool:
    return True


def waits_on_more(fn: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether this call of `fn` may wait on more than the database."""
    when = getattr(fn, "__waits_beyond_database__", None)
    return when is not None and when(kwargs)


def in_read_scope(session: Session) -> bool:
    return bool(session.info.get(_READ_ONLY))


def write_after_read(session: Session, row: SQLModel, *, always: bool = False) -> None:
    """A row a read-only unit of work must leave (its audit), written after it ends."""
    session.info.setdefault(_AFTER_READ_ALWAYS if always else _AFTER_READ, []).append(row)


def execute_after_read(session: Session, statement: Executable) -> None:
    """A change a unit of work decided on while reading (a session's last use moved on):
    made after a read that succeeded, in the write transaction its rows take; at once in
    a unit of work that writes."""
    if in_read_scope(session):
        session.info.setdefault(_AFTER_READ, []).append(statement)
    else:
        session.execute(statement)


def _reader(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        return engine
    return _readers[engine]  # every PostgreSQL engine comes from make_engine, with its reader


@contextmanager
def read_scope(
    engine: Engine | None = None, *, rows_left: list[RowAfterRead] | None = None
) -> Iterator[Session]:
    """A unit of work that only reads.

    On SQLite a plain (deferred) transaction: it takes no write lock, so a read never
    queues behind a booking or a login, nor they behind it. On PostgreSQL no transaction
    block at all: the reader's pool runs each statement as a transaction of its own (see
    `_postgres_engine`). The database holds it to reading: `PRAGMA query_only` on SQLite;
    on PostgreSQL the reader's connections make every transaction READ ONLY. The rows a
    read leaves, its audit, are written after it in a short write transaction of their own
    (`write_rows_after_read`), or with `rows_left`, put there for the caller to write.
    """
    eng = engine or get_engine()
    sqlite = eng.dialect.name == "sqlite"
    succeeded = False
    with Session(_reader(eng), expire_on_commit=False) as session:
        session.info[_READ_ONLY] = True
        # On PostgreSQL no connection is taken up front: a read that runs its statements on
        # the driver (driver_reads.py) takes one per statement, and never begins the Session.
        conn = session.connection() if sqlite else None
        if conn is not None:
            conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield session
            succeeded = True
        finally:
            if conn is not None:
                conn.exec_driver_sql("PRAGMA query_only = OFF")
            if sqlite or not succeeded:
                session.rollback()  # nothing to keep: reads only
            else:
                # The objects the read loaded are let go and kept as loaded (a rollback
                # would expire them), and the connection goes back to its pool; a commit
                # first cost a third more of the session's time for nothing. On
                # PostgreSQL nothing is sent: there is no transaction to end. Never a
                # ROLLBACK there: psycopg forgets every statement it prepared on the
                # connection on one (each pooled connection then planned every statement
                # afresh, 5x the database's CPU of a dashboard); in autocommit, with no
                # transaction open, psycopg sends none for the pool's reset either.
                session.close()
            rows = session.info.pop(_AFTER_READ_ALWAYS, [])
            if succeeded:
                rows += session.info.pop(_AFTER_READ, [])
            if rows_left is not None:
                rows_left += rows
            elif rows:
                write_rows_after_read(rows, eng)


def write_rows_after_read(rows: list[RowAfterRead], engine: Engine | None = None) -> None:
    """What a read left to write (its audit, a session's last use), in one transaction."""
    with session_scope(engine) as writing:
        for row in rows:
            if isinstance(row, SQLModel):
                writing.merge(row)
            else:
                writing.execute(row)


@contextmanager
def planned_each_time(session: Session) -> Iterator[None]:
    """Statements run within are planned for their own parameters each time, never with the
    generic plan a prepared statement settles on (PostgreSQL; elsewhere nothing changes)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    if not in_read_scope(session):
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        yield
        return
    # A read has no transaction block (read_scope): the setting is the connection's until
    # reset, and the connection goes back to the pool.
    session.execute(text("SET plan_cache_mode = force_custom_plan"))
    try:
        yield
    finally:
        with suppress(SQLAlchemyError):  # a lost connection is replaced, setting and all
            session.execute(text("RESET plan_cache_mode"))


def keep_on_rollback(session: Session, row: SQLModel) -> None:
    """Add `row` to this unit of work, and write it even when the work is rolled back.

    For the rows a refusal must leave behind (an audit of a denied access, a failed login
    that counts toward the throttle): the unit of work stays one transaction that either
    commits whole or is rolled back, and the rollback then writes these rows alone.
    """
    session.add(row)
    values = {c.name: getattr(row, c.name) for c in row.__table__.columns}  # type: ignore[attr-defined]
    write_on_rollback(session, type(row), values)


def write_on_rollback(session: Session, cls: type[SQLModel], values: dict[str, Any]) -> None:
    """Write a `cls` row of these values if this unit of work is rolled back (a Core write
    path inserts the same row itself when it commits)."""
    session.info.setdefault(_KEPT, []).append((cls, values))


@event.listens_for(OrmSession, "after_commit")
def _forget_kept(session: OrmSession) -> None:
    session.info.pop(_KEPT, None)


@event.listens_for(OrmSession, "after_soft_rollback")
def _write_kept(session: OrmSession, _previous: Any) -> None:
    if session.in_transaction():
        return  # an inner rollback; the outer one decides
    kept = session.info.pop(_KEPT, [])
    if not kept:
        return
    try:
        session.add_all([cls(**values) for cls, values in kept])
        session.commit()
    except Exception:
        # The refusal itself still reaches the caller; losing its record is logged.
        log.exception("could not write %d row(s) kept on rollback", len(kept))
        session.rollback()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(writer(engine or get_engine()), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
