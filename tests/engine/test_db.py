"""The store opener: URLs, migrations per component, one batching writer,
on both backends (SQLite, and PostgreSQL on a real server: tests/team)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from omniroute_mitm.engine.core.database import StoreError, data_dir, open_store, sqlite_path

V1 = "CREATE TABLE t (a INTEGER, b TEXT)"
V2 = "ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'x'; CREATE INDEX t_a ON t(a)"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """The store URL of a fresh store on each backend."""
    if request.param == "sqlite":
        return "sqlite:///s.sqlite"
    return str(request.getfixturevalue("pg_url"))


def _error(url: str) -> type[Exception]:
    """What a bad statement raises on the backend of ``url``."""
    if url.startswith("sqlite"):
        return sqlite3.Error
    import psycopg

    return psycopg.Error


def test_url_relative_to_base_and_absolute(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///u.sqlite", tmp_path) == tmp_path / "u.sqlite"
    assert sqlite_path(f"sqlite:///{tmp_path}/abs.sqlite", Path("/x")) == tmp_path / "abs.sqlite"


@pytest.mark.parametrize("bad", ["mysql://h/db", "sqlite://", "sqlite://host/x", "u.sqlite"])
def test_bad_url_names_it(bad: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot open store"):
        open_store(bad, base=tmp_path)


def test_data_dir_option_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNIROUTE_DATA_DIR", str(tmp_path / "env"))
    assert data_dir("/opt/x") == Path("/opt/x")
    assert data_dir("") == tmp_path / "env"
    monkeypatch.delenv("OMNIROUTE_DATA_DIR")
    assert data_dir(None).name == "data"


def test_migrations_run_once_in_order_per_component(url: str, tmp_path: Path) -> None:
    store = open_store(url, base=tmp_path)
    assert store.migrate("usage", [V1]) == 1
    store.write("INSERT INTO t (a, b) VALUES (?, ?)", (1, "old"))
    store.close()
    store = open_store(url, base=tmp_path)  # a later release adds V2
    assert store.migrate("usage", [V1, V2]) == 2
    assert store.migrate("usage", [V1, V2]) == 2
    assert store.migrate("other", ["CREATE TABLE o (x TEXT)"]) == 1
    assert [tuple(r) for r in store.read("SELECT a, b, c FROM t")] == [(1, "old", "x")]
    assert [dict(r) for r in store.read("SELECT a, c FROM t WHERE a = ?", (1,))] == [
        {"a": 1, "c": "x"}]  # fmt: skip
    assert store.version("usage") == 2 and store.version("other") == 1
    store.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = open_store("sqlite:///s.sqlite", base=tmp_path)
    assert store.read("PRAGMA journal_mode")[0][0] == "wal"
    store.close()


def test_a_failed_migration_leaves_the_version(url: str, tmp_path: Path) -> None:
    store = open_store(url, base=tmp_path)
    store.migrate("usage", [V1])
    with pytest.raises(_error(url)):
        store.migrate("usage", [V1, "CREATE TABLE half (a TEXT); ALTER TABLE nope ADD COLUMN z"])
    assert store.version("usage") == 1
    assert store.migrate("usage", [V1, "CREATE TABLE half (a TEXT)"]) == 2  # nothing half done
    store.close()


def test_concurrent_writers_lose_nothing(url: str, tmp_path: Path) -> None:
    store = open_store(url, base=tmp_path, interval=0.05)
    store.migrate("usage", [V1])

    def writer(n: int) -> None:
        for i in range(200):
            store.write("INSERT INTO t (a, b) VALUES (?, ?)", (n, str(i)))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()  # a clean shutdown writes everything queued
    store = open_store(url, base=tmp_path)
    counts = {r[0]: r[1] for r in store.read("SELECT a, COUNT(*) FROM t GROUP BY a")}
    store.close()
    assert counts == {n: 200 for n in range(8)}


def test_a_bad_write_does_not_drop_its_batch(url: str, tmp_path: Path) -> None:
    store = open_store(url, base=tmp_path, interval=5)
    store.migrate("usage", [V1])
    store.write("INSERT INTO t (a) VALUES (1)")
    store.write("INSERT INTO nope VALUES (1)")
    store.write("INSERT INTO t (a) VALUES (2)")
    store.flush()  # does not wait for the 5 s interval
    assert [r[0] for r in store.read("SELECT a FROM t ORDER BY a")] == [1, 2]
    store.close()


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from omniroute_mitm.engine.core.database import open_store
    store = open_store(sys.argv[2], base=Path(sys.argv[1]), interval=0.1)
    store.migrate("usage", ["CREATE TABLE t (a INTEGER)"])
    i = 0
    while True:
        store.write("INSERT INTO t (a) VALUES (?)", (i,))
        i += 1
        time.sleep(0.001)
    """
)


def test_kill_9_keeps_what_was_committed(url: str, tmp_path: Path) -> None:
    url = url.replace("s.sqlite", "k.sqlite")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), url],
        cwd=Path(__file__).resolve().parents[2] / "addons",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reader = tmp_path / "reader"
    try:
        seen = _wait_rows(url, reader, at_least=200)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    count, last = _count(url, reader)
    assert count >= seen  # nothing a reader saw committed is lost
    assert last == count - 1  # no gaps: whole batches or nothing


def _count(url: str, base: Path) -> tuple[int, int]:
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(url, base.parent))) as conn:
            count, last = conn.execute("SELECT COUNT(*), MAX(a) FROM t").fetchone()
            return int(count), int(last if last is not None else -1)
    store = open_store(url, base=base)  # (its own spool folder: not the writer's)
    try:
        count, last = store.read("SELECT COUNT(*), MAX(a) FROM t")[0]
    finally:
        store.close()
    return int(count), int(last if last is not None else -1)


def _wait_rows(url: str, base: Path, at_least: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            count, _ = _count(url, base)
        except Exception:  # noqa: BLE001 (the table is not there yet)
            count = 0
        if count >= at_least:
            return count
        time.sleep(0.05)
    raise AssertionError(f"the writer committed fewer than {at_least} rows in 30 s")


def test_the_store_is_private_whatever_the_umask(tmp_path):
    """It holds whole prompts (stored Responses): folder 0700, file 0600, and
    SQLite gives -wal and -shm the file's mode."""
    from omniroute_mitm.engine.core.database import open_store

    base = tmp_path / "data"
    old = os.umask(0)
    try:
        store = open_store("sqlite:///omniroute.sqlite", base=base)
        store.migrate("t", ["CREATE TABLE t (a TEXT)"])
        store.write("INSERT INTO t VALUES (?)", ("a private prompt",))
        store.flush()
        modes = {p.name: p.stat().st_mode & 0o777 for p in (base, *base.iterdir())}
        store.close()
    finally:
        os.umask(old)
    assert modes == {"data": 0o700, "omniroute.sqlite": 0o600, "omniroute.sqlite-wal": 0o600,
                     "omniroute.sqlite-shm": 0o600}


def test_a_wider_existing_store_is_kept_and_warned_about_once(tmp_path, caplog):
    from omniroute_mitm.engine.core import private
    from omniroute_mitm.engine.core.database import open_store

    base = tmp_path / "data"
    base.mkdir()
    base.chmod(0o755)
    (base / "omniroute.sqlite").touch()
    (base / "omniroute.sqlite").chmod(0o644)
    private._warned.clear()
    with caplog.at_level("WARNING"):
        for _ in range(2):
            open_store("sqlite:///omniroute.sqlite", base=base).close()
    warned = [r.getMessage() for r in caplog.records if "others on this machine" in r.getMessage()]
    assert len(warned) == 2  # the folder and the file, once each
    assert "chmod 700" in warned[0] and "chmod 600" in warned[1]
    assert (base.stat().st_mode & 0o777, (base / "omniroute.sqlite").stat().st_mode & 0o777) == (
        0o755, 0o644)  # the user's choice stays


def test_one_migration_list_serves_both_backends(url: str, tmp_path: Path) -> None:
    """Timestamps keep their fraction, 64-bit counts fit, ``user`` is a column
    (PostgreSQL reserves the word), ``%`` is a plain character."""
    store = open_store(url, base=tmp_path)
    store.migrate("usage", [
        "CREATE TABLE r (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, n INTEGER)",
        "ALTER TABLE r ADD COLUMN user TEXT; ALTER TABLE r ADD COLUMN note TEXT DEFAULT '5%'",
    ])  # fmt: skip
    store.write("INSERT INTO r (time, n, user) VALUES (?, ?, ?)", (1765112345.678901, 2**40, "al"))
    store.write("INSERT INTO r (time, n, user) VALUES (?, ?, ?)", (1765112346.5, 1, "bo"))
    store.flush()
    found = [dict(r) for r in store.read("SELECT * FROM r WHERE user = ? ORDER BY id", ("al",))]
    store.close()
    assert found == [{"id": 1, "time": 1765112345.678901, "n": 2**40, "user": "al",
                      "note": "5%"}]  # fmt: skip
