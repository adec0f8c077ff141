"""The response store's tables in the engine's SQLite database."""

from __future__ import annotations

import sqlite3

from .store import Row

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    previous_id TEXT,
    origin TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL NOT NULL,
    size INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_used_at ON responses (used_at);
"""


class SqliteBacking:
    """Rows in table ``responses`` of an open connection (its own migrations:
    the schema above, created when missing)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(SCHEMA)
        self.db.commit()

    def put(self, row: Row) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.previous_id, row.origin, row.created_at, row.used_at, row.size, row.data),
        )
        self.db.commit()

    def get(self, response_id: str) -> Row | None:
        found = self.db.execute(
            "SELECT id, previous_id, origin, created_at, used_at, data FROM responses WHERE id = ?",
            (response_id,),
        ).fetchone()
        return Row(*found) if found else None

    def delete(self, response_id: str) -> bool:
        cursor = self.db.execute("DELETE FROM responses WHERE id = ?", (response_id,))
        self.db.commit()
        return cursor.rowcount > 0

    def touch(self, ids: list[str], now: float) -> None:
        rows = [(now, response_id) for response_id in ids]
        self.db.executemany("UPDATE responses SET used_at = ? WHERE id = ?", rows)
        self.db.commit()

    def expire(self, used_before: float, max_bytes: int) -> int:
        old = self.db.execute("DELETE FROM responses WHERE used_at < ?", (used_before,))
        dropped = old.rowcount
        total = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
        if total > max_bytes:
            rows = self.db.execute("SELECT id, size FROM responses ORDER BY used_at").fetchall()
            doomed = []
            for response_id, size in rows:
                if total <= max_bytes:
                    break
                total -= size
                doomed.append((response_id,))
            self.db.executemany("DELETE FROM responses WHERE id = ?", doomed)
            dropped += len(doomed)
        self.db.commit()
        return dropped

    def close(self) -> None:
        self.db.close()


def open_sqlite(path: str) -> SqliteBacking:
    """A backing on the database file at ``path`` (WAL, created if missing)."""
    db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return SqliteBacking(db)
