"""The store on PostgreSQL (``omniroute_store=postgresql://user@host/db``):
the interface of :class:`.database.Store`, for instances that share one
database. psycopg 3; reads through its connection pool, writes by one
writer thread on a connection of its own.

- The same migrations and statements as SQLite, rewritten in one place
  (:mod:`.sqldialect`). ``migrate`` holds a transaction-level advisory lock
  (instances starting together run each migration once) and DDL is
  transactional: a migration is in or out whole.
- Writes are queued and committed in batches every ``interval`` like
  SQLite's, each batch with an id recorded in ``store_batches`` in the same
  transaction. When the server cannot be reached (down, restarting, a
  commit whose outcome is unknown) the batch goes to the local
  :class:`.spool.Spool` and every later one behind it, in order; the writer
  retries every ``retry`` seconds and writes the spool out oldest first,
  skipping ids the server already has (no row twice). Logged once when it
  goes down and once when it is back.
- While it is down, reads fail at once with :class:`.database.StoreUnavailable`
  (callers answer with a clear error); what this process wrote and could
  not yet commit is still known to its callers (``applied``).
- Never a password in a log line: the URL is shown without it.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from .spool import Spool, Write
from .sqldialect import Unsupported, postgres, statements
from .storeerrors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # its retries: we log the outage once

MIGRATION_LOCK = 0x6F6D6E69726F7574  # pg_advisory_xact_lock key ("omnirout")
STORE_MIGRATIONS = [
    "CREATE TABLE store_batches (id TEXT PRIMARY KEY, at REAL NOT NULL);"
    "CREATE INDEX store_batches_at ON store_batches (at)"
]
"""The store's own table: ids of the batches applied (pruned after a week)."""
KEEP_BATCH_IDS = 7 * 86400
PRUNE_EVERY = 3600.0
NOT_READY = (pgerrors.UndefinedTable, pgerrors.UndefinedColumn)
"""A spooled batch naming a table the database lacks: its component may not
have migrated yet (a restart opens the store, then its components migrate)."""
NOT_READY_WAIT = 60.0
"""How long such a batch waits before it is written statement by statement
(what still fails is dropped, as a bad statement always is)."""
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class Unavailable(Exception):
    pass


def redact(url: str) -> str:
    """``url`` without its password (for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def spool_name(url: str) -> str:
    """One spool per database URL (the next start of the same store finds it)."""
    return f"spool-{hashlib.sha256(redact(url).encode()).hexdigest()[:12]}.sqlite"


class _Row(tuple[Any, ...]):
    """A row read by index, by column name, or as a dict (like sqlite3.Row)."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> _Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


def _rows(cursor: Any) -> Any:
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: _Row(values, names)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class PgStore:
    shared = True
    """Other instances read what this one writes (see :meth:`flush`)."""

    def __init__(
        self, url: str, *, spool_dir: Path, interval: float = 0.5, retry: float = 1.0,
        connect_timeout: float = 3.0,
    ) -> None:  # fmt: skip
        self.url = url
        self.name = redact(url)
        self.interval = interval
        self.retry = retry
        self._connect = {"autocommit": True, "connect_timeout": max(1, round(connect_timeout))}
        self._pool = ConnectionPool(
            url, min_size=1, max_size=4, open=False, timeout=connect_timeout,
            kwargs={**self._connect, "row_factory": _rows}, check=ConnectionPool.check_connection,
            name=f"store:{self.name}",
        )  # fmt: skip
        self._pool.open(wait=False)
        self.spool = Spool(spool_dir / spool_name(url))
        self._conn: psycopg.Connection[Any] | None = None
        self._pending: list[Write | threading.Event | None] = []
        self._lock = threading.Lock()
        self._state = threading.Lock()
        self._work = threading.Event()
        self._urgent = threading.Event()
        self._ticket = 0
        self.applied = 0
        """The last write (by :meth:`write`'s ticket) the database has."""
        self._mine: dict[int, int] = {}  # spool row -> last ticket it holds
        self._deferred: list[tuple[str, list[Any]]] = []
        self._down = False
        self._next_try = 0.0
        self._pruned = 0.0
        self._blocked: float | None = None  # since when the spool's head is not ready
        self._spooling = self.spool.count() > 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"store:{self.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        self.migrate("store", STORE_MIGRATIONS)
        if self._spooling:
            self._work.set()  # a previous run left batches: write them out

    def __repr__(self) -> str:
        return f"PgStore({self.name!r})"

    @property
    def down(self) -> bool:
        return self._down

    # ------------------------------------------------------------ schema

    def version(self, component: str) -> int:
        row = self.read("SELECT version FROM schema_version WHERE component = ?", (component,))
        return int(row[0][0]) if row else 0

    def migrate(self, component: str, migrations: Sequence[Any]) -> int:
        """Run what ``component`` lacks of ``migrations``; returns its version.
        The server unreachable: they run before anything is written to it."""
        self.flush()
        try:
            with psycopg.connect(self.url, **self._connect) as conn:  # type: ignore[arg-type]
                version = _migrate(conn, component, migrations)
            if self._blocked is not None:
                self._next_try = 0.0
                self._work.set()  # spooled writes may have waited for these tables
            return version
        except UNREACHABLE as exc:
            self._mark_down(exc)
            with self._lock:
                self._deferred.append((component, list(migrations)))
            self._work.set()
            return len(migrations)

    # ------------------------------------------------------------ I/O

    def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Queue one statement; returns its ticket (see :attr:`applied`)."""
        if self._closed:
            raise StoreError(f"store {self.name} is closed")
        return self._put((sql, params))

    def read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        if self._down:
            raise self._unavailable()
        try:
            with self._pool.connection() as conn:
                return conn.execute(postgres(sql), params).fetchall()  # type: ignore[arg-type]
        except UNREACHABLE as exc:
            self._mark_down(exc)
            self._work.set()  # the writer checks when it is back
            raise self._unavailable() from exc

    def _unavailable(self) -> Exception:
        return StoreUnavailable(f"the store {self.name} is unreachable (PostgreSQL)")

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is in the database, or in
        the spool when the database cannot be reached."""
        if self._closed or not self._thread.is_alive():
            return
        done = threading.Event()
        self._put(done, urgent=True)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued (to the spool if the server is down)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._next_try = 0.0  # one last try to write the spool out
        self._put(None, urgent=True)
        self._thread.join(60)
        self._drop_conn()
        self.spool.close()
        self._pool.close()

    def _put(self, item: Write | threading.Event | None, urgent: bool = False) -> int:
        with self._lock:
            self._pending.append(item)
            if isinstance(item, tuple):
                self._ticket += 1
            if len(self._pending) == 1:
                self._work.set()
            if urgent:
                self._urgent.set()
            return self._ticket

    # ------------------------------------------------------------ state

    def _mark_down(self, exc: BaseException) -> None:
        with self._state:
            self._next_try = time.monotonic() + self.retry
            if self._down:
                return
            self._down = True
        log.warning(
            "store %s: PostgreSQL unreachable (%s); writes wait in %s until it is back",
            self.name, _one_line(exc), self.spool.path,
        )  # fmt: skip

    def _mark_up(self, written: int) -> None:
        with self._state:
            if not self._down:
                return
            self._down = False
        log.warning("store %s: PostgreSQL is back; %d waiting batches written", self.name, written)

    def _backlog(self) -> bool:
        return self._down or self._spooling or bool(self._deferred)

    # ------------------------------------------------------------ writer

    def _run(self) -> None:
        while True:
            self._work.wait(self.retry if self._backlog() else None)
            if self._work.is_set():
                self._urgent.wait(self.interval)
            with self._lock:
                items, self._pending = self._pending, []
                last = self._ticket
                self._work.clear()
                self._urgent.clear()
            batch = [item for item in items if isinstance(item, tuple)]
            if batch:
                self._take(batch, last)
            elif self._backlog():
                self._recover()
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    def _take(self, batch: list[Write], last: int) -> None:
        batch_id = uuid.uuid4().hex
        if not self._backlog():
            try:
                conn = self._connection()
                _apply(conn, batch_id, batch)
                self.applied = last
                if time.monotonic() - self._pruned > PRUNE_EVERY:
                    self._pruned = time.monotonic()
                    _prune(conn)
                return
            except UNREACHABLE as exc:
                self._drop_conn()
                self._mark_down(exc)
        seq = self.spool.add(batch_id, batch)
        if seq is None:
            log.error("store %s: the spool %s is full: %d writes dropped",
                      self.name, self.spool.path, len(batch))  # fmt: skip
        else:
            self._mine[seq] = last
            self._spooling = True
        self._recover()

    def _recover(self) -> None:
        """Run deferred migrations, then write the spool out, oldest first (a
    restart's components migrate before its writer's first round: a batch
    spooled before the tables existed finds them)."""
        if self._down and time.monotonic() < self._next_try:
            return
        written = 0
        try:
            conn = self._connection()
            self._run_deferred(conn)
            while head := self.spool.head():
                for seq, batch_id, batch in head:
                    self._replay(conn, batch_id, batch)
                    self.spool.remove(seq)
                    written += 1
                    if (ticket := self._mine.pop(seq, None)) is not None:
                        self.applied = max(self.applied, ticket)
            self._spooling = False
        except UNREACHABLE as exc:
            self._drop_conn()
            self._mark_down(exc)
            return
        except NOT_READY as exc:
            with self._state:
                self._next_try = time.monotonic() + self.retry
            if self._blocked is None:
                self._blocked = time.monotonic()
                log.warning("store %s: spooled writes wait for their table (%s)",
                            self.name, _one_line(exc))  # fmt: skip
            return
        self._mark_up(written)

    def _replay(self, conn: psycopg.Connection[Any], batch_id: str, batch: list[Write]) -> None:
        waited = self._blocked is not None and time.monotonic() - self._blocked > NOT_READY_WAIT
        _apply(conn, batch_id, batch, wait_for_tables=not waited)
        self._blocked = None

    def _run_deferred(self, conn: psycopg.Connection[Any]) -> None:
        while self._deferred:
            component, migrations = self._deferred[0]
            _migrate(conn, component, migrations)
            with self._lock:
                self._deferred.pop(0)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop_conn()
            self._conn = psycopg.connect(self.url, **self._connect)  # type: ignore[arg-type]
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass  # already broken
            self._conn = None


def _migrate(conn: psycopg.Connection[Any], component: str, migrations: Sequence[Any]) -> int:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(component TEXT PRIMARY KEY, version BIGINT NOT NULL)"
        )
        row = conn.execute(
            "SELECT version FROM schema_version WHERE component = %s", (component,)
        ).fetchone()
        done = int(row[0]) if row else 0
        for step in migrations[done:]:
            if callable(step):
                step(conn)
                continue
            for statement in statements(step):
                conn.execute(postgres(statement), ())  # type: ignore[arg-type]
        version = max(done, len(migrations))
        conn.execute(
            "INSERT INTO schema_version VALUES (%s, %s) ON CONFLICT (component) "
            "DO UPDATE SET version = excluded.version",
            (component, version),
        )
    return version


def _apply(
    conn: psycopg.Connection[Any], batch_id: str, batch: list[Write], *,
    wait_for_tables: bool = False,
) -> None:  # fmt: skip
    """One batch in one transaction, unless the server already has it. A bad
    statement costs only itself (a savepoint each, on a second pass);
    ``wait_for_tables``: a missing table raises instead (see NOT_READY)."""
    try:
        with conn.transaction():
            if _mark(conn, batch_id):
                _execute(conn, batch)
        return
    except UNREACHABLE:
        raise
    except NOT_READY:
        if wait_for_tables:
            raise
        log.error("store: a batch of %d names a missing table; writing one by one", len(batch))
    except (psycopg.Error, Unsupported) as exc:
        log.error("store: a batch of %d failed (%s); writing one by one", len(batch),
                  _one_line(exc))  # fmt: skip
    with conn.transaction():
        if not _mark(conn, batch_id):
            return
        for sql, params in batch:
            try:
                with conn.transaction():
                    conn.execute(postgres(sql), params)  # type: ignore[arg-type]
            except UNREACHABLE:
                raise
            except (psycopg.Error, Unsupported) as exc:
                log.error("store: dropped a write: %s", _one_line(exc))


def _mark(conn: psycopg.Connection[Any], batch_id: str) -> bool:
    cur = conn.execute(
        "INSERT INTO store_batches (id, at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (batch_id, time.time()),
    )
    return cur.rowcount == 1


def _execute(conn: psycopg.Connection[Any], batch: list[Write]) -> None:
    """Runs of the same statement go in one ``executemany`` (pipelined)."""
    with conn.cursor() as cur:
        start = 0
        while start < len(batch):
            sql = batch[start][0]
            end = start
            while end < len(batch) and batch[end][0] == sql:
                end += 1
            cur.executemany(postgres(sql), [params for _, params in batch[start:end]])
            start = end


def _prune(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DELETE FROM store_batches WHERE at < %s", (time.time() - KEEP_BATCH_IDS,))
