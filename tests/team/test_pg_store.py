"""The store on PostgreSQL with a real server: two engines on one database,
a server restart under writes, a kill -9 holding a spool, migrations of
instances starting together. (The store's unit tests run on both backends
in tests/engine/test_db.py and test_history_store.py.)"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

from omniroute_mitm.engine.core.database import open_store

ADDONS = Path(__file__).resolve().parents[2] / "addons"
T = "CREATE TABLE t (a INTEGER NOT NULL)"


def _count(url: str, base: Path) -> tuple[int, int]:
    store = open_store(url, base=base)
    try:
        total, distinct = store.read("SELECT COUNT(*), COUNT(DISTINCT a) FROM t")[0]
    finally:
        store.close()
    return int(total), int(distinct)


def test_instances_starting_together_run_each_migration_once(pg_url, tmp_path):
    """A migration that fails when run twice (no IF NOT EXISTS): the
    advisory lock lets one instance run it, the others see it done."""
    barrier = threading.Barrier(4)
    versions: list[int] = []
    errors: list[BaseException] = []

    def instance(n: int) -> None:
        barrier.wait()
        try:
            store = open_store(pg_url, base=tmp_path / str(n))
            versions.append(store.migrate("usage", [T, "ALTER TABLE t ADD COLUMN b TEXT"]))
            store.close()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and versions == [2, 2, 2, 2]


def test_a_restart_of_postgresql_under_writes_loses_and_doubles_no_row(
    postgres_server, pg_url, tmp_path, caplog
):
    store = open_store(pg_url, base=tmp_path, interval=0.05)
    store.migrate("usage", [T])
    written = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal written
        while not stop.is_set():
            store.write("INSERT INTO t (a) VALUES (?)", (written,))
            written += 1
            time.sleep(0.0005)

    thread = threading.Thread(target=writer)
    with caplog.at_level(logging.WARNING, logger="omniroute_mitm.engine.core.pgstore"):
        thread.start()
        _wait(lambda: store.applied >= 200, "rows before the restart")
        postgres_server.stop()
        _wait(lambda: store.spool.count() >= 3, "batches spooled while it is down")
        spool_mode = store.spool.path.stat().st_mode & 0o777
        postgres_server.start()
        _wait(lambda: not store.down and store.spool.count() == 0, "the spool written out")
        stop.set()
        thread.join()
        store.close()
    assert _count(pg_url, tmp_path) == (written, written)  # every row, none twice
    assert spool_mode == 0o600
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "PostgreSQL is back" in r.getMessage()]
    assert len(down) == 1 and len(back) == 1  # once each, not once per batch


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from omniroute_mitm.engine.core.database import open_store
    store = open_store(sys.argv[2], base=Path(sys.argv[1]), interval=0.05)
    store.migrate("usage", ["CREATE TABLE t (a INTEGER NOT NULL)"])
    for i in range(500):
        store.write("INSERT INTO t (a) VALUES (?)", (i,))
    store.flush()
    print("spooled", store.spool.count(), flush=True)
    time.sleep(600)
    """
)


def test_a_spool_left_by_kill_9_is_written_on_the_next_start(postgres_server, pg_url, tmp_path):
    open_store(pg_url, base=tmp_path / "setup").close()  # the database exists; server goes down
    postgres_server.stop()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), pg_url], cwd=ADDONS,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        with proc.stdout:
            line = proc.stdout.readline()
            proc.kill()  # SIGKILL: no atexit, no close
            proc.wait()
    finally:
        postgres_server.start()
    assert line.startswith("spooled") and int(line.split()[1]) >= 1
    (spool,) = tmp_path.glob("spool-*.sqlite")
    assert spool.stat().st_mode & 0o777 == 0o600
    with closing(sqlite3.connect(spool)) as conn:  # what the killed process left
        assert conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0] >= 1
    store = open_store(pg_url, base=tmp_path)  # the next start: migrates, then writes the spool
    store.migrate("usage", ["CREATE TABLE t (a INTEGER NOT NULL)"])
    _wait(lambda: store.spool.count() == 0, "the spool written out")
    store.close()
    assert _count(pg_url, tmp_path / "check") == (500, 500)


def _wait(ready, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_connection_the_server_dropped_is_not_an_outage(pg_url, tmp_path, caplog):
    """An idle connection killed (a proxy's timeout, a failover): the writer
    and the readers reconnect; nothing is spooled, nothing logged."""
    import psycopg

    store = open_store(pg_url, base=tmp_path, interval=0.05)
    store.migrate("usage", [T])
    store.write("INSERT INTO t (a) VALUES (?)", (0,))
    store.flush()
    assert store.read("SELECT COUNT(*) FROM t")[0][0] == 1
    with caplog.at_level(logging.WARNING, logger="omniroute_mitm.engine.core.pgstore"):
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        store.write("INSERT INTO t (a) VALUES (?)", (1,))
        store.flush()
        assert store.read("SELECT COUNT(*) FROM t")[0][0] == 2
    assert store.spool.count() == 0 and not store.down
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    store.close()
