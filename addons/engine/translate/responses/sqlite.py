"""The response store's table in the engine's database (:mod:`engine.db`).

Writes are queued and committed in batches by the database's writer thread;
a client chains its next turn within milliseconds, so the rows written (and
deleted) since the last commit are also kept here, and reads see them at once.
"""

from __future__ import annotations

from collections import OrderedDict

from omniroute_mitm.engine.core.database import Store

from .store import Row

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
"""Rows written since the last commits, kept for reads (a commit takes ~0.5 s)."""

_COLUMNS = "id, previous_id, origin, created_at, used_at, data"


class DbBacking:
    def __init__(self, db: Store) -> None:
        self.db = db
        db.migrate(COMPONENT, MIGRATIONS)
        self._recent: OrderedDict[str, Row | None] = OrderedDict()  # None: deleted

    def _remember(self, response_id: str, row: Row | None) -> None:
        self._recent[response_id] = row
        self._recent.move_to_end(response_id)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def put(self, row: Row) -> None:
        self.db.write(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.previous_id, row.origin, row.created_at, row.used_at, row.size, row.data),
        )
        self._remember(row.id, row)

    def get(self, response_id: str) -> Row | None:
        if response_id in self._recent:
            return self._recent[response_id]
        found = self.db.read(f"SELECT {_COLUMNS} FROM responses WHERE id = ?", (response_id,))
        return Row(*found[0]) if found else None

    def delete(self, response_id: str) -> bool:
        existed = self.get(response_id) is not None
        self.db.write("DELETE FROM responses WHERE id = ?", (response_id,))
        self._remember(response_id, None)
        return existed

    def touch(self, ids: list[str], now: float) -> None:
        for response_id in ids:
            self.db.write("UPDATE responses SET used_at = ? WHERE id = ?", (now, response_id))
            if (row := self._recent.get(response_id)) is not None:
                row.used_at = now

    def expire(self, used_before: float, max_bytes: int) -> int:
        """Reads what is committed (WAL: never waits for the writer) and queues
        the deletes; rows still queued are seen by the next round."""
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
            self.db.write("DELETE FROM responses WHERE id = ?", (response_id,))
            self._remember(response_id, None)
        return len(doomed)

    def close(self) -> None:
        self.db.close()
