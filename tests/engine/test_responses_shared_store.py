"""Two engines on one PostgreSQL database (two gateway instances): a
response created through one is continued, retrieved and deleted through
the other at once, and usage rows of both land in the one database. While
the database is down, a stored response that only the database holds is a
clear 503 in the client's format, not "not found"."""

from __future__ import annotations

import json

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.database import open_store
from omniroute_mitm.engine.translate.responses import ResponseStore
from omniroute_mitm.engine.translate.responses.sqlite import DbBacking
from omniroute_mitm.translators.sse import SSEDecoder

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
CONFIG = """
providers:
  ant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [sk-ant-provider-key]}
routes:
  - {match: {model: to-ant}, to: ant/up}
"""


def anthropic_text(text: str) -> list[bytes]:
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return [f"event: {k}\ndata: {json.dumps(v)}\n\n".encode() for k, v in events]


def completed(data: bytes) -> dict:
    found = [json.loads(e.data) for e in SSEDecoder().feed(data)]
    (done,) = [e for e in found if e["type"] == "response.completed"]
    return done["response"]


@pytest.fixture
def two_engines(pg_url, tmp_path, upstream, start_engine):
    """Instances A and B: each its own store connection, spool and cache."""
    engines = []
    for name in ("a", "b"):
        store = open_store(pg_url, base=tmp_path / name, interval=5)  # slow batches: the
        # handoff must not depend on the writer's timer
        responses = ResponseStore(DbBacking(store))
        engines.append(start_engine(make_config(CONFIG, upstream), responses=responses,
                                    store=store))  # fmt: skip
    return engines


async def test_a_response_made_through_one_instance_is_continued_retrieved_and_deleted_through_another(  # noqa: E501
    two_engines, upstream, pg_url, tmp_path
):
    a, b = two_engines
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Hello from A!"), SSE))
    first = completed((await a.post(
        "/v1/responses", {"model": "to-ant", "stream": True, "input": "hi"})).content)
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Bye from B!"), SSE))
    second = completed((await b.post("/v1/responses", {
        "model": "to-ant", "stream": True, "input": "bye",
        "previous_response_id": first["id"]})).content)  # fmt: skip
    sent = json.loads(upstream.seen[-1].body)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "Hello from A!" in json.dumps(sent[1])  # B had A's turn

    got = await a.client.get(f"/v1/responses/{second['id']}", headers=a.headers())
    assert got.status_code == 200 and got.json()["previous_response_id"] == first["id"]
    items = await a.client.get(f"/v1/responses/{second['id']}/input_items?order=asc",
                               headers=a.headers())  # fmt: skip
    assert [i["role"] for i in items.json()["data"]] == ["user", "assistant", "user"]

    gone = await b.client.delete(f"/v1/responses/{first['id']}", headers=b.headers())
    assert gone.json()["deleted"] is True
    again = await a.client.get(f"/v1/responses/{first['id']}", headers=a.headers())
    assert again.status_code == 404  # A made it, B deleted it: A does not serve a stale copy

    for harness in (a, b):
        harness.engine.store.flush()
    check = open_store(pg_url, base=tmp_path / "check")
    rows = check.read("SELECT requested_model, key_id FROM requests")
    check.close()
    assert len(rows) == 2 and all(r["key_id"] != "sk-ant-provider-key" for r in rows)


async def test_a_stored_response_during_an_outage_is_a_clear_503(
    two_engines, upstream, postgres_server
):
    a, b = two_engines
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Hello!"), SSE))
    first = completed((await a.post(
        "/v1/responses", {"model": "to-ant", "stream": True, "input": "hi"})).content)
    postgres_server.stop()
    try:
        resp = await b.post("/v1/responses", {"model": "to-ant", "input": "more",
                                              "previous_response_id": first["id"]})  # fmt: skip
        got = await b.client.get(f"/v1/responses/{first['id']}", headers=b.headers())
    finally:
        postgres_server.start()
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["code"] == "store_unavailable"
    assert "unreachable" in error["message"] and first["id"] in error["message"]
    assert got.status_code == 503
    assert all("/ant/" not in s.uri for s in upstream.seen[1:])  # nothing sent without history
