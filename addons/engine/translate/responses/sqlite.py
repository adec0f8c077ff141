"""The response store's table in the engine's database (:mod:`engine.db`),
SQLite or PostgreSQL.

Writes are queued and committed in batches by the database's writer thread;
a client chains its next turn within milliseconds, so the rows written (and
deleted) and not yet in the database are also kept here, and reads see them
at once. Only those: once the database has a write (its ticket is
``applied``), reads go to the database, so what another instance wrote or
deleted there since is what this one sees. On a shared store (PostgreSQL)
the writes another instance may need at once are flushed before the client
is answered (:meth:`flush`, see :meth:`.store.ResponseStore.settle`).
While the server is unreachable, a read this process cannot answer from
what it wrote is a 503 :class:`.store.StoreUnreachable`.
"""

from __future__ import annotations

from collections import OrderedDict

from omniroute_mitm.engine.core.database import Store, StoreUnavailable

from .store import Row, StoreUnreachable

COMPONENT = "responses"
MIGRATIONS = [
    """
    CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        previous_id TEXT,
        origin TEXT NOT NULL,
        created_at REAL NOT NULL,
        used_at REAL NOT NULL,
        size INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX responses_used_at ON responses (used_at)
    """,
]
RECENT = 1024
"""Rows written and not yet in the database, kept for reads (a commit takes ~0.5 s)."""
UPSERT = (
    "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "previous_id = excluded.previous_id, origin = excluded.origin, "
    "created_at = excluded.created_at, used_at = excluded.used_at, size = excluded.size, "
    "data = excluded.data"
)

_COLUMNS = "id, previous_id, origin, created_at, used_at, data"


class DbBacking:
    def __init__(self, db: Store) -> None:
        self.db = db
        self.shared = db.shared
        db.migrate(COMPONENT, MIGRATIONS)
        self._recent: OrderedDict[str, tuple[int, Row | None]] = OrderedDict()  # None: deleted

    def _remember(self, response_id: str, ticket: int, row: Row | None) -> None:
        self._recent[response_id] = (ticket, row)
        self._recent.move_to_end(response_id)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def put(self, row: Row) -> None:
        ticket = self.db.write(
            UPSERT,
            (row.id, row.previous_id, row.origin, row.created_at, row.used_at, row.size, row.data),
        )
        self._remember(row.id, ticket, row)

    def get(self, response_id: str) -> Row | None:
        if (recent := self._recent.get(response_id)) is not None:
            if recent[0] > self.db.applied:
                return recent[1]
            del self._recent[response_id]  # in the database: it has the latest word
        try:
            found = self.db.read(f"SELECT {_COLUMNS} FROM responses WHERE id = ?", (response_id,))
        except StoreUnavailable as exc:
            raise StoreUnreachable(response_id) from exc
        return Row(*found[0]) if found else None

    def delete(self, response_id: str) -> bool:
        existed = self.get(response_id) is not None
        ticket = self.db.write("DELETE FROM responses WHERE id = ?", (response_id,))
        self._remember(response_id, ticket, None)
        return existed

    def touch(self, ids: list[str], now: float) -> None:
        for response_id in ids:
            self.db.write("UPDATE responses SET used_at = ? WHERE id = ?", (now, response_id))
            if (recent := self._recent.get(response_id)) is not None and recent[1] is not None:
                recent[1].used_at = now

    def flush(self) -> None:
        """Until what was written is in the database (or its spool)."""
        self.db.flush(timeout=10)

    def expire(self, used_before: float, max_bytes: int) -> int:
        """Reads what is committed (WAL: never waits for the writer) and queues
        the deletes; rows still queued are seen by the next round (and all of
        them once an unreachable server is back)."""
        try:
            return self._expire(used_before, max_bytes)
        except StoreUnavailable:
            return 0

    def _expire(self, used_before: float, max_bytes: int) -> int:
        old = self.db.read("SELECT id FROM responses WHERE used_at < ?", (used_before,))
        doomed = [r[0] for r in old]
        total = self.db.read("SELECT COALESCE(SUM(size), 0) FROM responses WHERE used_at >= ?",
                             (used_before,))[0][0]  # fmt: skip
        if total > max_bytes:
            rows = self.db.read(
                "SELECT id, size FROM responses WHERE used_at >= ? ORDER BY used_at",
                (used_before,),
            )
            for response_id, size in rows:
                if total <= max_bytes:
                    break
                total -= size
                doomed.append(response_id)
        for response_id in doomed:
            ticket = self.db.write("DELETE FROM responses WHERE id = ?", (response_id,))
            self._remember(response_id, ticket, None)
        return len(doomed)

    def close(self) -> None:
        self.db.close()
