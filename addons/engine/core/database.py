"""One SQLite store for the engine's components, written off the hot path.

Interface (all a component needs)::

    from omniroute_mitm.engine.core.database import open_store, data_dir

    store = open_store("sqlite:///usage.sqlite")   # relative: under data_dir()
    store = open_store("sqlite:////abs/path/x.sqlite")
    store.migrate("usage", [SQL_V1, SQL_V2])       # once at start; idempotent
    store.write("INSERT INTO t VALUES (?, ?)", (1, "a"))   # queued, never blocks
    rows = store.read("SELECT * FROM t WHERE a = ?", (1,))  # list[sqlite3.Row]
    store.flush()                                  # wait until all queued writes are in
    store.close()                                  # flush and stop (clean shutdown)

- ``data_dir(option)``: the ``omniroute_data_dir`` option if set, else
  ``$OMNIROUTE_DATA_DIR``, else ``data/`` in the repository (git-ignored), or
  the user's data directory when installed from a wheel (:mod:`.paths`).
- The store holds whole prompts (stored Responses): its folder is created
  0700 and its file 0600 whatever the umask (SQLite creates ``-wal`` and
  ``-shm`` with the file's mode); existing ones wider than that are kept,
  with a warning (:mod:`.private`).
- ``migrate(component, migrations)``: each component keeps its own ordered
  list of migrations (SQL statements separated by ``;``, or
  ``callable(connection)`` for anything else); the table
  ``schema_version`` holds how many of each component's list have run. Only
  append to a list: a migration, once shipped, never changes.
- Writes go to a list; one writer thread commits what is queued as one
  transaction every ``interval`` seconds (default 0.5), woken once per batch
  (not once per write: a wake-up costs the writer's caller a GIL hand-over). On ``kill -9`` at
  most the writes of the last interval are lost; ``close()`` loses nothing.
- Reads use their own connection (WAL: readers never wait for the writer);
  call them off the event loop (``asyncio.to_thread``) when they may be slow.

- ``write`` returns a ticket; ``applied`` is the last ticket the database
  has (readers elsewhere see it). ``shared`` says whether other instances
  read this store (PostgreSQL): their readers see a write only once it is
  applied, so a write another instance may need at once is flushed first.

``postgresql://`` (or ``postgres://``) URLs open the store on PostgreSQL
(:mod:`.pgstore`, the ``team`` extra): the same interface and migrations; a
local spool under the data dir while the server is unreachable, and
:class:`StoreUnavailable` from ``read`` meanwhile.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from . import paths, private
from .storeerrors import StoreError as StoreError  # (re-exported: the store's one face)
from .storeerrors import StoreUnavailable as StoreUnavailable
from .writequeue import WriteQueue

if TYPE_CHECKING:
    from .pgstore import PgStore

log = logging.getLogger(__name__)

DATA_DIR_ENV = paths.DATA_DIR_ENV
DEFAULT_URL = "sqlite:///omniroute.sqlite"

Migration = str | Callable[[sqlite3.Connection], None]
_Write = tuple[str, Sequence[Any] | dict[str, Any]]


SERVER_SCHEMES = ("postgresql", "postgres")


def data_dir(option: str | None = None) -> Path:
    """Where the store and request logs live (created on first use)."""
    chosen = option or os.environ.get(DATA_DIR_ENV) or str(paths.default_data_dir())
    return Path(chosen).expanduser()


def sqlite_path(url: str, base: Path) -> Path:
    """The file a ``sqlite:///`` URL names; relative paths are under ``base``."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise StoreError(
            f"Cannot open store {url!r}: want sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    if parts.netloc or not parts.path.strip("/"):
        raise StoreError(f"Cannot open store {url!r}: want sqlite:///FILE or sqlite:////ABS/FILE")
    path = unquote(parts.path[1:])  # sqlite:///x -> "x", sqlite:////abs -> "/abs"
    return Path(path) if os.path.isabs(path) else base / path


def is_server(url: str) -> bool:
    """Whether ``url`` names a database server (not a local file)."""
    return urlsplit(url).scheme.lower() in SERVER_SCHEMES


def open_store(
    url: str = DEFAULT_URL, *, base: Path | None = None, interval: float = 0.5
) -> Store | PgStore:
    """Open (creating if needed) the store at ``url``."""
    base = base if base is not None else data_dir()
    if is_server(url):
        return _open_server(url, base, interval)
    path = sqlite_path(url, base)
    try:
        folder = path.parent
        wal, shm = (path.with_name(path.name + end) for end in ("-wal", "-shm"))
        mine = [folder] if folder == base else []  # not the folder of a path the user chose
        private.warn_if_wider(*mine, path, wal, shm, holds="prompts and answers")
        private.private_dir(folder)
        private.ensure_file(path)  # 0600 from the start; SQLite gives -wal and -shm its mode
        return Store(path, interval=interval)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"Cannot open store {url!r}: {exc}") from exc


def _open_server(url: str, base: Path, interval: float) -> PgStore:
    try:
        from .pgsql import redact
        from .pgstore import PgStore
    except ImportError as exc:
        raise StoreError(
            f"Cannot open store {url.split('@')[-1]!r}: PostgreSQL needs psycopg "
            f"(pip install 'omniroute-mitm[team]'): {exc}"
        ) from exc
    try:
        return PgStore(url, spool_dir=base, interval=interval)
    except Exception as exc:  # a malformed URL (psycopg's ProgrammingError), a bad folder
        raise StoreError(f"Cannot open store {redact(url)!r}: {exc}") from exc


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, fast commits
    return conn


class Store(WriteQueue):
    shared = False
    """One process reads what it writes (see :attr:`applied`)."""

    def __init__(self, path: Path, *, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._writer = _connect(path)
        self._reader = _connect(path)
        self._read_lock = threading.Lock()
        self._writer.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self._init_queue()
        self._thread = threading.Thread(target=self._run, name=f"store:{path.name}", daemon=True)
        self._closed = False
        self.applied = 0
        """The last write (by :meth:`write`'s ticket) committed."""
        self._thread.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ------------------------------------------------------------ schema

    def version(self, component: str) -> int:
        row = self.read("SELECT version FROM schema_version WHERE component = ?", (component,))
        return int(row[0][0]) if row else 0

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Run the migrations of ``component`` not yet applied; returns its version."""
        self.flush()  # queued writes may target the tables being changed
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT version FROM schema_version WHERE component = ?", (component,)
            ).fetchone()
            done = int(row[0]) if row else 0
            for step in migrations[done:]:
                _apply(conn, step)
            conn.execute(
                "INSERT INTO schema_version VALUES (?, ?) ON CONFLICT(component) "
                "DO UPDATE SET version = excluded.version",
                (component, max(done, len(migrations))),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return max(done, len(migrations))

    # ------------------------------------------------------------ I/O

    def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Queue one statement; the writer thread commits it within ``interval``.
        Returns its ticket (see :attr:`applied`)."""
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        return self._put((sql, params))

    def read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._put(None, urgent=True)
        self._thread.join(30)
        self._writer.close()
        self._reader.close()

    # ------------------------------------------------------------ writer

    def _run(self) -> None:
        while True:
            self._work.wait()
            self._urgent.wait(self.interval)  # gather a batch (a flush or close ends it)
            items, last = self._take_queued()
            batch = [item for item in items if isinstance(item, tuple)]
            if batch:
                self._commit(batch)
                self.applied = last
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    def _commit(self, batch: list[_Write]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN")
            for sql, params in batch:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            log.error(
                "store %s: a batch of %d failed (%s); writing one by one",
                self.path.name,
                len(batch),
                exc,
            )
            self._commit_each(batch)

    def _commit_each(self, batch: Iterable[_Write]) -> None:
        for sql, params in batch:
            try:
                self._writer.execute(sql, params)
            except sqlite3.Error as exc:
                log.error("store %s: dropped a write: %s", self.path.name, exc)


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    if callable(step):
        step(conn)
        return
    for statement in step.split(";"):  # executescript would COMMIT our transaction
        if statement.strip():
            conn.execute(statement)
