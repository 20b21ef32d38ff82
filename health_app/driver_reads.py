"""The hottest reads' statements, run on PostgreSQL's driver directly.

Every event of a signed-in page resolves its session, and most then read a page (the
dashboard's lists, the doctor search, a day's times): 2.7 statements an event under
benchmarks/bench_load.py. Through SQLAlchemy a one-row statement cost about 150 us of CPU
over the driver's own 70 (the ORM's execute ~75 us; the Core's cache lookup, parameters
and result rows ~80), more for many rows. `read_rows` compiles a statement once, with the
connection's dialect, and hands psycopg the very SQL text SQLAlchemy would send (so
psycopg prepares and reuses it the same way), the parameters through the same type
processors, and returns rows read by attribute, index or unpacking, as SQLAlchemy's are
(a column without a name of its own, an unlabelled expression, is read by position).
Measured alone, interleaved (best of 4): a session check 283 -> 175 us, a patient's
dashboard 713 -> 345, a search 940 -> 482. Two interleaved pairs of bench_load on 2
workers, 500 tabs: 3.16 / 3.48 -> 2.66 / 2.61 ms of server CPU per event, 438 / 393 ->
495 / 497 of 500 events/s answered.

Only where it is the same read: PostgreSQL, inside a `read_scope` (a unit of work that
writes may have changes SQLAlchemy would flush before the query), a statement built once
(module level or cached: compiling is the slow part), with no parameters SQLAlchemy
expands at execution (IN lists), and no one listening to the connection's statements
(tests that count them, tracing). Anywhere else the statement goes through SQLAlchemy,
as do errors: a driver error is raised as SQLAlchemy raises it, invalidating a lost
connection and its pool as SQLAlchemy does (its private handlers: SQLAlchemy is pinned).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, NoReturn, cast

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.sql.selectable import CompoundSelect, Select
from sqlmodel import Session

from health_app.db import PING_AFTER_IDLE_SECONDS, in_read_scope, ping

# A read built per call would be compiled per call (correct, only slow): a few hundred
# statements are kept, far more than the app has.
KEPT_STATEMENTS = 256

Statement = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]

_REQUIRED = object()  # a parameter the caller must pass


@dataclass
class _Compiled:
    dialect: Dialect
    sql: str
    # (name in the SQL, key a caller passes, value when not passed, type's processor)
    binds: tuple[tuple[str, str, Any, Callable[[Any], Any] | None], ...]
    row: type[tuple[Any, ...]]
    types: tuple[Any, ...]
    # Per result column, its type's processor or None; set from the first result (the
    # processors may depend on the column types the driver reports).
    results: tuple[Callable[[Any], Any] | None, ...] | None = None


def read_rows(
    session: Session, statement: Statement, params: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """`session.execute(statement, params).all()`, on the driver when it is the same read.

    A read whose unit of work holds no connection yet (it has run nothing through the
    Session) runs on the connection its event loop keeps (`_may_keep_one`), or takes one
    from the pool for this statement alone: a read runs each statement as a transaction of
    its own anyway (autocommit, `db.read_scope`), and the Session's transaction around a
    connection cost more than the statement (about 100 us a unit of work). Once it holds
    one (a setting made on it, an ORM read), its statements run there.
    """
    engine = cast(Engine, session.get_bind())  # read_scope binds the Session to an engine
    held = session.connection() if session.in_transaction() else None
    compiled = _compiled(statement, engine.dialect) if _direct(session, held or engine) else None
    values = None if compiled is None else _values(compiled, params or {})
    if compiled is None or values is None:
        return session.execute(statement, dict(params or {})).all()
    if held is not None:
        return _run(compiled, values, held.connection, held._handle_dbapi_exception)
    if _may_keep_one(engine):
        kept = _kept_connection(engine)
        try:
            return _run(compiled, values, kept, partial(_raise, engine, kept))
        except BaseException:
            _let_go_of_kept()  # a connection that failed is not kept
            raise
    pooled = engine.raw_connection()
    try:
        return _run(compiled, values, pooled, partial(_raise, engine, pooled))
    finally:
        pooled.close()


def read_first(
    session: Session, statement: Statement, params: Mapping[str, Any] | None = None
) -> Any | None:
    """The first row `read_rows` returns, or None."""
    rows = read_rows(session, statement, params)
    return rows[0] if rows else None


class _Kept(threading.local):
    """The pooled connection the event loop's thread keeps for its statements."""

    connection: PoolProxiedConnection | None = None
    pool: Pool | None = None
    used_at = 0.0


_kept = _Kept()


def _may_keep_one(engine: Engine) -> bool:
    """Whether this statement may run on a connection its thread keeps between statements:
    on an event loop (the quick reads of a worker per core, state/unit_of_work.py), whose
    statements run one at a time. Taking a pooled connection and giving it back around
    each statement (SQLAlchemy's checkout and checkin, their listeners, a reset) cost a
    seventh of a one-statement read's CPU: 97 -> 83 us kept (best of 6, interleaved).
    Service threads still take one per statement. Not with a pool of one, which the kept
    connection would leave empty for every other unit of work."""
    pool = engine.pool
    on_loop = asyncio._get_running_loop() is not None
    return on_loop and isinstance(pool, QueuePool) and pool.size() > 1


def _kept_connection(engine: Engine) -> PoolProxiedConnection:
    """The thread's kept connection: taken from the engine's pool when it has none (or one
    of a pool since disposed), pinged first when idle as long as the pool pings one (db.ping),
    and replaced when the ping fails."""
    now = time.monotonic()
    connection = _kept.connection
    if connection is not None and _kept.pool is not engine.pool:
        _let_go_of_kept()
        connection = None
    elif connection is not None and now - _kept.used_at >= PING_AFTER_IDLE_SECONDS:
        try:
            ping(engine, connection.driver_connection)
        except DisconnectionError:
            connection.invalidate()
            _let_go_of_kept()
            connection = None
    if connection is None:
        connection = _kept.connection = engine.raw_connection()
        _kept.pool = engine.pool
    _kept.used_at = now
    return connection


def _let_go_of_kept() -> None:
    """Give the thread's kept connection back to its pool (which drops it if invalid)."""
    connection, _kept.connection, _kept.pool = _kept.connection, None, None
    if connection is not None:
        connection.close()


def _direct(session: Session, bind: Connection | Engine) -> bool:
    return (
        bind.dialect.name == "postgresql"
        and in_read_scope(session)
        and not bind.dispatch.before_cursor_execute
    )


def _values(compiled: _Compiled, given: Mapping[str, Any]) -> dict[str, Any] | None:
    """The statement's parameters as SQLAlchemy would send them; None when one is missing
    (SQLAlchemy then says which)."""
    values = {}
    for name, key, default, process in compiled.binds:
        value = given.get(key, default)
        if value is _REQUIRED:
            return None
        values[name] = value if process is None else process(value)
    return values


def _run(
    compiled: _Compiled,
    values: dict[str, Any],
    connection: PoolProxiedConnection,
    fail: Callable[[BaseException, str, dict[str, Any], Any, None], NoReturn],
) -> list[Any]:
    cursor = connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.sql, values)
        fetched = cursor.fetchall()
        if compiled.results is None:
            compiled.results = _result_processors(compiled, cursor.description)
    except compiled.dialect.loaded_dbapi.Error as exc:
        fail(exc, compiled.sql, values, cursor, None)
    finally:
        cursor.close()
    make = compiled.row._make  # type: ignore[attr-defined]
    processors = compiled.results
    if not any(processors):
        return [make(r) for r in fetched]
    return [
        make(v if p is None else p(v) for p, v in zip(processors, r, strict=True)) for r in fetched
    ]


def _raise(
    engine: Engine,
    pooled: PoolProxiedConnection,
    exc: BaseException,
    _sql: str,
    _values: dict[str, Any],
    cursor: Any,
    _context: None,
) -> NoReturn:
    """A driver error on a connection no SQLAlchemy Connection wraps, raised as SQLAlchemy
    raises it; a lost connection invalidates the pool as SQLAlchemy's handler does (every
    connection older than it is replaced on its next checkout)."""
    lost = engine.dialect.is_disconnect(exc, pooled.driver_connection, cursor)
    if lost:
        engine.pool._invalidate(pooled, exc)
    Connection._handle_dbapi_exception_noconnection(exc, engine.dialect, engine, is_disconnect=lost)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _compiled(statement: Statement, dialect: Dialect) -> _Compiled | None:
    compiled = statement.compile(dialect=dialect)
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or any(b.callable is not None for b in compiled.bind_names)
    ):
        return None  # parameters SQLAlchemy renders or works out at execution
    binds = []
    for bind, name in compiled.bind_names.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        default = _REQUIRED if bind.required else bind.value
        binds.append((name, bind.key, default, processor))
    columns = list(statement.selected_columns)
    row = collections.namedtuple(  # type: ignore[misc]
        "Row", [c.key or f"_{i}" for i, c in enumerate(columns)], rename=True
    )
    return _Compiled(
        dialect=dialect,
        sql=compiled.string,
        binds=tuple(binds),
        row=row,
        types=tuple(c.type for c in columns),
    )


def _result_processors(
    compiled: _Compiled, description: Sequence[Any] | None
) -> tuple[Callable[[Any], Any] | None, ...]:
    dialect = compiled.dialect
    codes = [d[1] for d in description or ()]
    return tuple(
        t.dialect_impl(dialect).result_processor(dialect, code)
        for t, code in zip(compiled.types, codes, strict=True)
    )
