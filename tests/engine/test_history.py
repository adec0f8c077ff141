"""Responses API state through the real engine: previous_response_id chains
across providers, the store's endpoints, and Codex's compaction emulated."""

from __future__ import annotations

import json

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER
from omniroute_mitm.engine.translate.responses import MemoryBacking, ResponseStore
from omniroute_mitm.engine.translate.responses.items import (
    COMPACTION_PROMPT,
    SUMMARY_PREFIX,
    compaction_item,
)
from omniroute_mitm.translators.sse import SSEDecoder

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
CONFIG = """
providers:
  chat: {format: openai-chat, base_url: "UPSTREAM/chat/v1", keys: [sk-chat-provider-key]}
  ant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [sk-ant-provider-key]}
  resp: {format: openai-responses, base_url: "UPSTREAM/resp/v1", keys: [sk-resp-provider-key]}
routes:
  - {match: {model: to-chat}, to: chat/up}
  - {match: {model: to-ant}, to: ant/up}
  - {match: {model: to-resp}, to: resp/up}
  - {match: {model: to-native}, to: native}
"""
CHAT_CALL = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_weather_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


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


def anthropic_json(text: str) -> list[bytes]:
    return [json.dumps({
        "id": "msg_2", "type": "message", "role": "assistant", "model": "up",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5},
    }).encode()]  # fmt: skip


def responses_json(resp_id: str, text: str) -> bytes:
    return json.dumps({
        "id": resp_id, "object": "response", "created_at": 1, "status": "completed",
        "model": "up", "output": [{"id": "msg_r1", "type": "message", "role": "assistant",
                                   "status": "completed",
                                   "content": [{"type": "output_text", "text": text}]}],
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
    }).encode()  # fmt: skip


@pytest.fixture
def backing():
    return MemoryBacking()


@pytest.fixture
def engine(upstream, start_engine, backing):
    return start_engine(make_config(CONFIG, upstream), responses=ResponseStore(backing))


def events(data: bytes) -> list[dict]:
    return [json.loads(e.data) for e in SSEDecoder().feed(data)]


def completed(data: bytes) -> dict:
    (done,) = [e for e in events(data) if e["type"] == "response.completed"]
    return done["response"]


async def test_chain_expands_stored_turns_for_another_provider(engine, upstream):
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_CALL).encode()]))
    first = await engine.post(
        "/v1/responses", {"model": "to-chat", "input": "Weather in Paris?", "tools": TOOLS}
    )
    assert first.status_code == 200, first.text
    call = first.json()["output"][0]
    assert call["type"] == "function_call" and call["call_id"] == "call_weather_1"

    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Sunny, 21C."), SSE))
    second = await engine.post("/v1/responses", {
        "model": "to-ant", "stream": True, "tools": TOOLS,
        "previous_response_id": first.json()["id"],
        "input": [{"type": "function_call_output", "call_id": "call_weather_1",
                   "output": "sunny 21"}],
    })  # fmt: skip
    assert second.status_code == 200, second.text
    sent = json.loads(upstream.seen[-1].body)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"][0]["text"] == "Weather in Paris?"
    (use,) = sent["messages"][1]["content"]
    assert (use["type"], use["id"]) == ("tool_use", "call_weather_1")
    assert use["input"] == {"city": "Paris"}
    (result,) = sent["messages"][2]["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "call_weather_1")
    assert "previous_response_id" not in sent

    third = completed(second.content)
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_CALL).encode()]))
    body = {"model": "to-chat", "previous_response_id": third["id"], "input": "Thanks"}
    await engine.post("/v1/responses", body)
    sent = json.loads(upstream.seen[-1].body)
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert sent["messages"][3]["content"] == "Sunny, 21C."


async def test_unknown_previous_id_is_the_responses_error_and_nothing_goes_upstream(
    engine, upstream
):
    resp = await engine.post(
        "/v1/responses", {"model": "to-ant", "previous_response_id": "resp_nope", "input": "hi"}
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error["param"] == "previous_response_id"
    assert "resp_nope" in error["message"]
    assert upstream.seen == []


async def test_unknown_previous_id_goes_to_a_responses_provider_untouched(engine, upstream):
    upstream.script("/resp/v1/responses", Reply(200, [responses_json("resp_up2", "ok")]))
    body = {"model": "to-resp", "previous_response_id": "resp_theirs", "input": "hi"}
    resp = await engine.post("/v1/responses", body)
    assert resp.status_code == 200
    assert json.loads(upstream.seen[-1].body)["previous_response_id"] == "resp_theirs"


async def test_store_false_keeps_nothing(engine, upstream, backing):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("hi"), SSE))
    body = {"model": "to-ant", "stream": True, "store": False, "input": "hi"}
    resp = await engine.post("/v1/responses", body)
    assert resp.status_code == 200 and completed(resp.content)["id"]
    assert backing.rows == {}


async def test_retrieve_input_items_and_delete_from_the_store(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Hello!"), SSE))
    first = completed((await engine.post(
        "/v1/responses", {"model": "to-ant", "stream": True, "input": "hi"})).content)
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("Bye!"), SSE))
    second = completed((await engine.post("/v1/responses", {
        "model": "to-ant", "stream": True, "input": "bye",
        "previous_response_id": first["id"]})).content)  # fmt: skip
    headers = engine.headers()

    got = await engine.client.get(f"/v1/responses/{second['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["output"] == second["output"]
    assert got.json()["previous_response_id"] == first["id"]

    items = await engine.client.get(
        f"/v1/responses/{second['id']}/input_items?order=asc", headers=headers
    )
    data = items.json()["data"]
    assert [i["type"] for i in data] == ["message", "message", "message"]
    assert [i["role"] for i in data] == ["user", "assistant", "user"]
    assert all(i["id"] for i in data)
    page = await engine.client.get(
        f"/v1/responses/{second['id']}/input_items?limit=1", headers=headers
    )
    assert page.json()["has_more"] is True
    assert page.json()["data"][0]["content"][0]["text"] == "bye"

    gone = await engine.client.delete(f"/v1/responses/{second['id']}", headers=headers)
    assert gone.json() == {"id": second["id"], "object": "response", "deleted": True}
    again = await engine.client.get(f"/v1/responses/{second['id']}", headers=headers)
    assert again.status_code == 404
    assert upstream.seen and all("/ant/" in s.uri for s in upstream.seen)


async def test_previous_id_issued_by_the_same_provider_passes_through(engine, upstream):
    upstream.script("/resp/v1/responses", Reply(200, [responses_json("resp_up1", "one")]))
    first = await engine.post("/v1/responses", {"model": "to-resp", "input": "hi", "store": True})
    upstream.script("/resp/v1/responses", Reply(200, [responses_json("resp_up2", "two")]))
    body = {"model": "to-resp", "input": "more", "previous_response_id": first.json()["id"]}
    await engine.post("/v1/responses", body)
    assert json.loads(upstream.seen[-1].body)["previous_response_id"] == "resp_up1"
    assert json.loads(upstream.seen[-1].body)["input"] == "more"

    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("three"), SSE))
    await engine.post("/v1/responses", {**body, "model": "to-ant"})
    sent = json.loads(upstream.seen[-1].body)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0]["text"] == "one"


COMPACT_INPUT = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
    {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": "Fixed the bug in a.py."}]},
    {"type": "compaction_trigger"},
]  # fmt: skip


async def test_compaction_trigger_is_emulated_with_a_summary(engine, upstream, backing):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text("SUMMARY: a.py fixed"), SSE))
    body = {"model": "to-ant", "stream": True, "store": False, "input": COMPACT_INPUT}
    resp = await engine.post("/v1/responses", body)
    assert resp.status_code == 200
    sent = json.loads(upstream.seen[-1].body)
    assert sent["messages"][-1]["content"][-1]["text"] == COMPACTION_PROMPT
    done = [e["item"] for e in events(resp.content) if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in done] == ["compaction"]
    assert completed(resp.content)["output"] == done
    assert backing.rows == {}

    again = {"model": "to-native", "input": [COMPACT_INPUT[0], done[0], COMPACT_INPUT[0]]}
    upstream.script("/native/v1/responses", Reply(200, [responses_json("resp_n", "ok")]))
    native_url = f"{upstream.url}/native/v1/responses"
    await engine.post("/v1/responses", again, headers={ORIGINAL_URL_HEADER: native_url})
    sent = json.loads(upstream.seen[-1].body)
    text = sent["input"][1]["content"][0]["text"]
    assert text == SUMMARY_PREFIX + "SUMMARY: a.py fixed"
    assert "encrypted_content" not in json.dumps(sent)


async def test_compaction_unary_answer_is_one_compaction_item(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_json("the summary")))
    resp = await engine.post("/v1/responses", {"model": "to-ant", "input": COMPACT_INPUT})
    (item,) = resp.json()["output"]
    assert item["type"] == "compaction"
    assert item["encrypted_content"] == compaction_item("the summary")["encrypted_content"]


@pytest.mark.parametrize(
    ("method", "path", "host", "want"),
    [
        ("GET", "/v1/responses/resp_1", "api.openai.com", ("retrieve", "resp_1", False)),
        ("GET", "/v1/responses/resp_1/input_items?limit=2", None, ("input_items", "resp_1", False)),
        ("DELETE", "/v1/responses/resp_1", "api.openai.com", ("delete", "resp_1", False)),
        ("POST", "/v1/responses/compact", "api.openai.com", ("generate", None, True)),
        ("DELETE", "/v1/responses/resp_1/input_items", "api.openai.com", None),
        ("GET", "/v1/responses/resp_1", "api.anthropic.com", None),
        ("POST", "/v1/responses/compact", "chatgpt.com", None),
    ],
)
def test_calls_on_stored_responses_are_classified(method, path, host, want):
    from omniroute_mitm.engine.core.calls import classify

    call = classify(method, path, host)
    got = None if call is None else (call.kind, call.resource, call.compact)
    assert got == want


@pytest.mark.parametrize(
    ("method", "path", "host", "want"),
    [
        ("POST", "/v1/conversations", "api.openai.com", "conversation"),
        ("GET", "/v1/conversations/conv_1/items?limit=5", "api.openai.com", "conversation"),
        ("DELETE", "/v1/conversations/conv_1/items/msg_1", None, "conversation"),
        ("GET", "/v1/conversations/conv_1/other", "api.openai.com", None),
        ("POST", "/v1/conversations", "api.anthropic.com", None),
    ],
)
def test_conversations_calls_are_classified(method, path, host, want):
    from omniroute_mitm.engine.core.calls import classify

    call = classify(method, path, host)
    assert (call.kind if call else None) == want


async def test_without_routed_responses_clients_conversations_stay_openai_s(
    upstream, start_engine
):
    config = make_config("routes: [{match: {client: anthropic}, to: native}]", upstream)
    engine = start_engine(config)
    upstream.script("/native/v1/conversations", Reply(200, [b'{"id":"conv_openai"}']))
    headers = {ORIGINAL_URL_HEADER: f"{upstream.url}/native/v1/conversations"}
    resp = await engine.post("/v1/conversations", {"items": []}, headers=headers)
    assert resp.json() == {"id": "conv_openai"}
    assert upstream.seen[-1].uri == "/native/v1/conversations"


async def test_context_fit_counts_the_stored_conversation(upstream, start_engine):
    config = make_config(CONFIG + """
combos:
  fit:
    strategy: context-fit
    targets: [{to: ant/up, context_window: 300}, {to: chat/up}]
""", upstream)  # fmt: skip
    engine = start_engine(config)
    upstream.script("/ant/v1/messages", Reply(200, anthropic_json("word " * 600)))
    first = await engine.post("/v1/responses", {"model": "fit", "input": "hi"})
    assert upstream.seen[-1].uri == "/ant/v1/messages"  # fits the small window
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_CALL).encode()]))
    body = {"model": "fit", "input": "short", "previous_response_id": first.json()["id"]}
    await engine.post("/v1/responses", body)
    # straight to the big window: the small one never sees the long conversation
    assert [s.uri for s in upstream.seen] == ["/ant/v1/messages", "/chat/v1/chat/completions"]
