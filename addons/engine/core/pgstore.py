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

import psycopg
from psycopg_pool import ConnectionPool

from .pgsql import (
    NOT_READY,
    STORE_MIGRATIONS,
    UNREACHABLE,
    apply,
    migrate,
    one_line,
    prune,
    redact,
    rows,
)
from .spool import Spool, Write
from .sqldialect import postgres
from .storeerrors import StoreError, StoreUnavailable
from .writequeue import WriteQueue

log = logging.getLogger(__name__)
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # its retries: we log the outage once

PRUNE_EVERY = 3600.0
READ_TIMEOUT = 1.0
"""Seconds a read waits for a pooled connection: reads of stored responses
run on the engine's event loop, so the first read after the server went
away must not hold it long (later ones fail at once until it is back)."""
NOT_READY_WAIT = 60.0
"""How long a spooled batch naming a missing table waits (its component may
not have migrated yet) before it is written statement by statement (what
still fails is dropped, as a bad statement always is)."""


def spool_name(url: str) -> str:
    """One spool per database URL (the next start of the same store finds it)."""
    return f"spool-{hashlib.sha256(redact(url).encode()).hexdigest()[:12]}.sqlite"


class PgStore(WriteQueue):
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
            kwargs={**self._connect, "row_factory": rows}, check=ConnectionPool.check_connection,
            name=f"store:{self.name}",
        )  # fmt: skip
        self._pool.open(wait=False)
        self.spool = Spool(spool_dir / spool_name(url))
        self._conn: psycopg.Connection[Any] | None = None
        self._init_queue()
        self._state = threading.Lock()
        self.applied = 0
        """The last write (by :meth:`write`'s ticket) the database has."""
        self._mine: dict[int, int] = {}  # spool row -> last ticket it holds
        self._deferred: list[tuple[str, list[Any]]] = []
        self._down = False
        self._next_try = 0.0
        self._pruned = 0.0
        self._full = False  # the spool refused a batch (logged once)
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
        if self._down:  # known down: do not wait for a connection timeout
            with self._lock:
                self._deferred.append((component, list(migrations)))
            return len(migrations)
        try:
            with psycopg.connect(self.url, **self._connect) as conn:  # type: ignore[arg-type]
                version = migrate(conn, component, migrations)
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
            with self._pool.connection(timeout=READ_TIMEOUT) as conn:
                return conn.execute(postgres(sql), params).fetchall()  # type: ignore[arg-type]
        except UNREACHABLE as exc:
            self._mark_down(exc)
            self._work.set()  # the writer checks when it is back
            raise self._unavailable() from exc

    def _unavailable(self) -> Exception:
        return StoreUnavailable(f"the store {self.name} is unreachable (PostgreSQL)")

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

    # ------------------------------------------------------------ state

    def _mark_down(self, exc: BaseException) -> None:
        with self._state:
            self._next_try = time.monotonic() + self.retry
            if self._down:
                return
            self._down = True
        log.warning(
            "store %s: PostgreSQL unreachable (%s); writes wait in %s until it is back",
            self.name, one_line(exc), self.spool.path,
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
            items, last = self._take_queued()
            batch = [item for item in items if isinstance(item, tuple)]
            try:
                if batch:
                    self._take(batch, last)
                elif self._backlog():
                    self._recover()
            except Exception:  # the spool's disk, a bug: the writer must live on
                log.exception("store %s: a batch of %d is lost", self.name, len(batch))
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    def _take(self, batch: list[Write], last: int) -> None:
        batch_id = uuid.uuid4().hex
        if not self._backlog() and self._commit(batch_id, batch):
            self.applied = last
            return
        seq = self.spool.add(batch_id, batch)
        if seq is None:
            if not self._full:
                self._full = True
                log.error("store %s: the spool %s is full (%d MB): writes are dropped until "
                          "PostgreSQL is back", self.name, self.spool.path,
                          self.spool.max_bytes >> 20)  # fmt: skip
        else:
            self._mine[seq] = last
            self._spooling = True
        self._recover()

    def _commit(self, batch_id: str, batch: list[Write]) -> bool:
        """Whether the batch is in; an old connection that broke (idle, the
        server restarted) gets one retry on a new one (the id makes it safe)."""
        for again in (True, False):
            fresh = self._conn is None
            try:
                conn = self._connection()
                apply(conn, batch_id, batch)
                if time.monotonic() - self._pruned > PRUNE_EVERY:
                    self._pruned = time.monotonic()
                    prune(conn)
                return True
            except UNREACHABLE as exc:
                self._drop_conn()
                if not (again and not fresh):
                    self._mark_down(exc)
                    return False
        return False

    def _recover(self) -> None:
        """Run deferred migrations, then write the spool out, oldest first (a
        batch naming a table not there yet waits: see NOT_READY)."""
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
            if self._full:
                self._full = False
                log.error("store %s: %d writes were dropped while the spool was full",
                          self.name, self.spool.dropped)  # fmt: skip
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
                            self.name, one_line(exc))  # fmt: skip
            return
        self._mark_up(written)

    def _replay(self, conn: psycopg.Connection[Any], batch_id: str, batch: list[Write]) -> None:
        waited = self._blocked is not None and time.monotonic() - self._blocked > NOT_READY_WAIT
        apply(conn, batch_id, batch, wait_for_tables=not waited)
        self._blocked = None

    def _run_deferred(self, conn: psycopg.Connection[Any]) -> None:
        while self._deferred:
            component, migrations = self._deferred[0]
            try:
                migrate(conn, component, migrations)
            except UNREACHABLE:
                raise
            except psycopg.Error as exc:  # (at start-up it would have stopped the instance)
                log.error("store %s: migration of %s failed: %s", self.name, component,
                          one_line(exc))  # fmt: skip
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
