"""The response store on both backings: chains, limits, and a real SQLite
file that outlives the process that wrote it."""

from __future__ import annotations

import sqlite3

import pytest
from omniroute_mitm.engine.core import database
from omniroute_mitm.engine.translate.responses import ResponseStore, Stored, open_responses
from omniroute_mitm.engine.translate.responses.items import (
    SUMMARY_PREFIX,
    compaction_item,
    expand_compactions,
    replace_trigger,
    user_message,
)
from omniroute_mitm.engine.translate.responses.sqlite import DbBacking
from omniroute_mitm.engine.translate.responses.store import MemoryBacking


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def turn(n: int, previous: str | None = None, size: int = 0) -> Stored:
    text = f"question {n}" + "x" * size
    answer = {"type": "message", "role": "assistant",
              "content": [{"type": "output_text", "text": f"answer {n}"}]}  # fmt: skip
    return Stored(f"resp_{n}", "provider:p", [user_message(text)], [answer], {"id": f"resp_{n}"},
                  previous)  # fmt: skip


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def make_store(request, tmp_path):
    made: list[ResponseStore] = []
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None

    def make(clock: Clock, **limits) -> ResponseStore:
        if request.param == "memory":
            backing = MemoryBacking()
        elif url is not None:
            backing = DbBacking(database.open_store(url, base=tmp_path))
        else:
            backing = DbBacking(database.open_store("sqlite:///t.sqlite", base=tmp_path))
        made.append(ResponseStore(backing, clock=clock, **limits))
        return made[-1]

    yield make
    for store in made:
        store.close()


def committed(store: ResponseStore) -> ResponseStore:
    """Expiry sees what the database committed (its writer batches)."""
    db_store = getattr(store.backing, "db", None)
    if db_store is not None:
        db_store.flush()
    return store


def texts(items: list[dict]) -> list[str]:
    return [item["content"][0]["text"] for item in items]


def test_history_is_the_chain_in_order(make_store):
    store = make_store(Clock())
    store.put(turn(1))
    store.put(turn(2, "resp_1"))
    store.put(turn(3, "resp_2"))
    got = store.history("resp_3")
    assert texts(got) == [f"{kind} {n}" for n in (1, 2, 3) for kind in ("question", "answer")]
    assert store.history("resp_missing") is None


def test_a_broken_or_looping_chain_is_not_held(make_store):
    store = make_store(Clock())
    store.put(turn(2, "resp_1"))  # resp_1 never stored
    assert store.history("resp_2") is None
    store.put(turn(3, "resp_4"))
    store.put(turn(4, "resp_3"))
    assert store.history("resp_4") is None


def test_unused_responses_expire_but_a_used_chain_stays(make_store):
    clock = Clock()
    store = make_store(clock, max_age=100)
    store.put(turn(1))
    store.put(turn(9))
    clock.now += 60
    store.put(turn(2, "resp_1"))
    assert store.history("resp_2") is not None  # marks resp_1 used too
    clock.now += 60
    assert committed(store).expire() == 1
    assert store.get("resp_9") is None
    assert texts(store.history("resp_2") or []) == ["question 1", "answer 1", "question 2",
                                                    "answer 2"]  # fmt: skip


def test_size_limit_drops_the_least_recently_used(make_store):
    clock = Clock()
    store = make_store(clock, max_bytes=3000)
    for n in range(1, 5):
        clock.now += 1
        store.put(turn(n, size=1000))
    committed(store).expire()
    assert [store.get(f"resp_{n}") is not None for n in range(1, 5)] == [False, False, True, True]


def test_the_sqlite_store_survives_a_restart_and_keeps_no_headers(tmp_path):
    store = open_responses(str(tmp_path))
    store.put(turn(1))
    store.put(turn(2, "resp_1"))
    assert texts(store.history("resp_2") or [])[-1] == "answer 2"  # before the commit
    store.close()
    again = open_responses(str(tmp_path))
    assert texts(again.history("resp_2") or [])[-1] == "answer 2"
    assert again.delete("resp_2") and again.get("resp_2") is None
    again.close()
    conn = sqlite3.connect(tmp_path / "omniroute.sqlite")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(responses)")]
    assert conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
    conn.close()
    assert columns == ["id", "previous_id", "origin", "created_at", "used_at", "size", "data"]


def test_compaction_summary_round_trips_as_plain_text():
    item = compaction_item("did A, next B")
    expanded = expand_compactions([user_message("hi"), item])
    assert expanded is not None
    assert texts(expanded) == ["hi", SUMMARY_PREFIX + "did A, next B"]
    foreign = {"type": "compaction", "encrypted_content": "gAAAA-openai-own"}
    assert expand_compactions([foreign]) is None
    prompt = replace_trigger([user_message("hi"), {"type": "compaction_trigger"}])
    assert prompt[-1]["role"] == "user" and "summary" in texts(prompt)[-1]


def test_with_no_store_responses_are_kept_in_memory_and_nothing_is_written(tmp_path):
    """``omniroute_store=none``: chains still work within the run, no file appears."""
    store = open_responses(str(tmp_path / "data"), None, persist=False)
    try:
        store.put(turn(1))
        store.put(turn(2, previous="resp_1"))
        assert store.get("resp_2") is not None and store.get("resp_1") is not None
    finally:
        store.close()
    assert not (tmp_path / "data").exists()
