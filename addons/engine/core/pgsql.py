"""PostgreSQL statements of the store (:mod:`.pgstore`): migrations under an
advisory lock, batches applied once by their id, rows like sqlite3.Row."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import PoolTimeout

from .spool import Write
from .sqldialect import Unsupported, postgres, statements

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6F6D6E69726F7574  # pg_advisory_xact_lock key ("omnirout")
STORE_MIGRATIONS = [
    "CREATE TABLE store_batches (id TEXT PRIMARY KEY, at REAL NOT NULL);"
    "CREATE INDEX store_batches_at ON store_batches (at)"
]
"""The store's own table: ids of the batches applied (pruned after a week)."""
KEEP_BATCH_IDS = 7 * 86400
NOT_READY = (pgerrors.UndefinedTable, pgerrors.UndefinedColumn)
"""A spooled batch naming a table the database lacks: its component may not
have migrated yet (a restart opens the store, then its components migrate)."""
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def redact(url: str) -> str:
    """``url`` without its password (for logs and errors): neither the one
    before the host nor a ``password=`` parameter."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    query = "&".join("password=***" if p.lower().startswith("password=") else p
                     for p in parts.query.split("&"))  # fmt: skip
    return urlunsplit(parts._replace(query=query))


class Row(tuple[Any, ...]):
    """A row read by index, by column name, or as a dict (like sqlite3.Row)."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


def rows(cursor: Any) -> Any:
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: Row(values, names)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def migrate(conn: psycopg.Connection[Any], component: str, migrations: Sequence[Any]) -> int:
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


def apply(
    conn: psycopg.Connection[Any], batch_id: str, batch: list[Write], *,
    wait_for_tables: bool = False,
) -> None:  # fmt: skip
    """One batch in one transaction, unless the server already has it. A bad
    statement costs only itself (a savepoint each, on a second pass);
    ``wait_for_tables``: a missing table raises instead (see NOT_READY)."""
    try:
        with conn.transaction():
            if mark(conn, batch_id):
                execute(conn, batch)
        return
    except UNREACHABLE:
        raise
    except NOT_READY:
        if wait_for_tables:
            raise
        log.error("store: a batch of %d names a missing table; writing one by one", len(batch))
    except (psycopg.Error, Unsupported) as exc:
        log.error("store: a batch of %d failed (%s); writing one by one", len(batch),
                  one_line(exc))  # fmt: skip
    with conn.transaction():
        if not mark(conn, batch_id):
            return
        for sql, params in batch:
            try:
                with conn.transaction():
                    conn.execute(postgres(sql), params)  # type: ignore[arg-type]
            except UNREACHABLE:
                raise
            except (psycopg.Error, Unsupported) as exc:
                log.error("store: dropped a write: %s", one_line(exc))


def mark(conn: psycopg.Connection[Any], batch_id: str) -> bool:
    cur = conn.execute(
        "INSERT INTO store_batches (id, at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (batch_id, time.time()),
    )
    return cur.rowcount == 1


def execute(conn: psycopg.Connection[Any], batch: list[Write]) -> None:
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


def prune(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DELETE FROM store_batches WHERE at < %s", (time.time() - KEEP_BATCH_IDS,))
