"""The fake provider speaks each format exactly: the official SDKs, pointed at it
directly (no proxy), parse what it says into what was scripted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors

from fakeprovider import FakeProvider, Reply, Usage
from fakeprovider.sdk import FORMATS, Conn, call, tool_followup
from fakeprovider.upstream import reasoning_echo, tool_exchange

FIXTURES = Path("/work/shared/fixtures")
MODEL = {"openai-chat": "gpt-4o", "openai-responses": "gpt-4o",
         "anthropic": "claude-test-1", "gemini": "gemini-2.5-flash"}

USAGE = Usage(input=120, output=45, cached=20, reasoning=5)
TEXT = Reply(text="Bonjour, the weather is mild.", usage=USAGE)
TOOLS = Reply(
    text=None,
    tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})],
    usage=USAGE,
)


def direct(fp: FakeProvider, api_key: str = "sk-test-direct") -> Conn:
    base = {"openai-chat": fp.url + "/v1", "openai-responses": fp.url + "/v1",
            "anthropic": fp.url, "gemini": fp.url}
    return Conn(base_urls=base, api_key=api_key)


@pytest.fixture(scope="module")
def conn(fake_provider_server):
    with direct(fake_provider_server) as c:
        yield c


def check_usage(fmt: str, got, usage: Usage) -> None:
    assert (got.input_tokens, got.output_tokens, got.cached_tokens) == (
        usage.input, usage.output, usage.cached)
    if fmt != "anthropic":  # Anthropic's usage has no reasoning count
        assert got.reasoning_tokens == usage.reasoning


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_text_reaches_the_sdk_exactly(fake_provider, fmt, stream, conn):
    fake_provider.script([TEXT])
    got = call(conn, fmt, MODEL[fmt], stream=stream)
    assert got.text == TEXT.text
    assert got.tool_calls == []
    assert got.stop == "end"
    check_usage(fmt, got, USAGE)
    rec = fake_provider.model_calls()[-1]
    assert rec.format == fmt and rec.stream == stream and rec.completed


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_parallel_tool_calls_reach_the_sdk_exactly(fake_provider, fmt, stream, conn):
    fake_provider.script([TOOLS])
    got = call(conn, fmt, MODEL[fmt], stream=stream, tools=True)
    assert got.tool_calls == [("get_weather", {"city": "Paris"}),
                              ("get_time", {"tz": "Europe/Paris"})]
    assert got.stop == "tool_use"
    if fmt != "gemini":  # the Gemini API sends no call ids
        assert len(set(got.tool_ids)) == 2 and all(got.tool_ids)
    check_usage(fmt, got, USAGE)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_reasoning_and_signature_reach_the_sdk(fake_provider, fmt, stream, conn):
    reply = Reply(text="42.", reasoning="Let me think about it.", signature="c2lnbmF0dXJl",
                  usage=Usage(input=10, output=30, reasoning=20))
    fake_provider.script([reply])
    got = call(conn, fmt, MODEL[fmt], stream=stream)
    assert (got.text, got.reasoning) == ("42.", "Let me think about it.")
    if fmt != "openai-chat":  # Chat has no signature field
        assert got.signature == "c2lnbmF0dXJl"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_max_tokens_stop(fake_provider, fmt, stream, conn):
    fake_provider.script([Reply(text="cut", stop="max_tokens")])
    assert call(conn, fmt, MODEL[fmt], stream=stream).stop == "max_tokens"


def sdk_error(fmt: str):
    return genai_errors.APIError if fmt == "gemini" else (openai.APIError, anthropic.APIError)


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
@pytest.mark.parametrize("fmt", FORMATS)
def test_error_status_becomes_the_sdks_own_error(fake_provider, fmt, status, conn):
    fake_provider.script([Reply(status=status, error_message="nope")])
    with pytest.raises(sdk_error(fmt)) as info:
        call(conn, fmt, MODEL[fmt], stream=False)
    err = info.value
    assert getattr(err, "status_code", None) == status or getattr(err, "code", None) == status
    assert "nope" in str(err)


def test_error_classes_match_the_sdks_mapping(fake_provider, conn):
    fake_provider.script([Reply(status=429), Reply(status=529), Reply(status=401)])
    with pytest.raises(openai.RateLimitError):
        call(conn, "openai-chat", "gpt-4o", stream=True)
    with pytest.raises(anthropic.OverloadedError) as info:
        call(conn, "anthropic", "claude", stream=True)
    assert info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(genai_errors.ClientError) as gerr:
        call(conn, "gemini", "gemini-2.5-flash", stream=True)
    assert gerr.value.status == "UNAUTHENTICATED"


@pytest.mark.parametrize("fmt", FORMATS)
def test_error_mid_stream_fails_the_sdk_stream(fake_provider, fmt, conn):
    fake_provider.script([Reply(text="one two three four five six", error_mid_stream=True,
                                error_message="Overloaded")])
    with pytest.raises(Exception) as info:  # each SDK has its own class: checked below
        call(conn, fmt, MODEL[fmt], stream=True)
    assert "Overloaded" in str(info.value) or "overloaded" in repr(info.value).lower()
    rec = fake_provider.model_calls()[-1]
    assert 2 <= rec.events_sent


def test_drop_connection_is_a_transport_error(fake_provider):
    fake_provider.script([Reply(drop_connection=True)])
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(fake_provider.url + "/v1/chat/completions", json={"model": "m"})
    assert fake_provider.model_calls()[-1].dropped


def test_drop_mid_stream_truncates_the_body(fake_provider):
    fake_provider.script([Reply(text="a b c d e f g h", drop_mid_stream=True)])
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", fake_provider.url + "/v1/messages",
                          json={"model": "m", "stream": True}) as resp:
            for _ in resp.iter_bytes():
                pass


def test_keys_are_checked_and_recorded(fake_provider, conn):
    fake_provider.accept_keys({"sk-good"})
    with pytest.raises(anthropic.AuthenticationError):
        call(conn, "anthropic", "claude", stream=False)
    with direct(fake_provider, "sk-good") as good:
        for fmt in FORMATS:
            call(good, fmt, MODEL[fmt], stream=False)
    keys = [r.api_key for r in fake_provider.model_calls()]
    assert keys == ["sk-test-direct"] + ["sk-good"] * 4
    assert all(r.carries("sk-good") for r in fake_provider.model_calls()[1:])


def test_recorded_request_is_complete(fake_provider, conn):
    call(conn, "gemini", "gemini-2.5-flash", stream=True, prompt="hi there")
    rec = fake_provider.model_calls()[-1]
    assert rec.path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    assert rec.query == {"alt": "sse"}
    assert rec.headers["x-goog-api-key"] == "sk-test-direct"
    assert rec.body["contents"] == [{"role": "user", "parts": [{"text": "hi there"}]}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_round_trip_is_visible_in_the_recorded_request(fake_provider, fmt, conn):
    fake_provider.script([TOOLS, Reply(text="Sunny, and it is noon.")])
    first = call(conn, fmt, MODEL[fmt], stream=True, tools=True, prompt="weather+time?")
    history = tool_followup(fmt, "weather+time?", first, ["sunny", "12:00"])
    second = call(conn, fmt, MODEL[fmt], stream=True, tools=True, history=history)
    assert second.text == "Sunny, and it is noon."
    calls, results = tool_exchange(fmt, fake_provider.model_calls()[-1].body)
    assert [(name, args) for _, name, args in calls] == TOOLS_PAIRS
    assert [out for _, out in results] == ["sunny", "12:00"]
    if fmt != "gemini":
        assert [cid for cid, _, _ in calls] == [cid for cid, _ in results] == first.tool_ids


TOOLS_PAIRS = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})]


def test_client_disconnect_is_seen(fake_provider):
    fake_provider.script([Reply.bench(200, delay_between=0.01)])
    with httpx.stream("POST", fake_provider.url + "/v1/chat/completions",
                      json={"model": "m", "stream": True}) as resp:
        next(resp.iter_lines())
    assert fake_provider.wait_for(lambda: fake_provider.model_calls()[-1].closed_early, 5)
    assert fake_provider.model_calls()[-1].events_sent < 200


def test_delay_first_byte(fake_provider):
    fake_provider.script([Reply(text="late", delay_first_byte=0.3)])
    start = time.monotonic()
    with httpx.stream("POST", fake_provider.url + "/v1/messages",
                      json={"model": "m", "stream": True}) as resp:
        assert resp.status_code == 200
        assert time.monotonic() - start >= 0.3


def test_raw_events_are_streamed_as_given(fake_provider):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [
        "data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": "as "}}]}),
        "data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": "given"},
                                                     "finish_reason": "stop"}]}),
        "data: [DONE]",
    ]
    fake_provider.script([Reply(text="not this", raw_events=[e + "\n\n" for e in events])])
    with httpx.stream("POST", fake_provider.url + "/v1/chat/completions",
                      json={"model": "m", "stream": True}) as resp:
        body = resp.read().decode()
    assert body == "".join(e + "\n\n" for e in events)
    assert fake_provider.model_calls()[-1].events_sent == 3


def test_gemini_json_array_stream_arrives_element_by_element(fake_provider):
    fake_provider.script([Reply(text="a b c", delay_between=0.2)])
    url = fake_provider.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    arrivals, body = [], b""
    with httpx.stream("POST", url, json={"contents": []}) as resp:
        assert resp.headers["content-type"].startswith("application/json")
        for chunk in resp.iter_bytes():
            arrivals.append(time.monotonic())
            body += chunk
    items = json.loads(body)
    assert "".join(i["candidates"][0]["content"]["parts"][0]["text"] for i in items) == "a b c"
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    assert len(arrivals) >= 3 and arrivals[-1] - arrivals[0] >= 0.4  # not one buffered body


def test_bench_reply_streams_2000_events(fake_provider, conn):
    fake_provider.script([Reply.bench(2000)])
    got = call(conn, "anthropic", "claude", stream=True)
    assert got.text == "".join(f"tok{i} " for i in range(2000))
    # + message_start, block start, ping, block stop, message_delta, message_stop
    assert fake_provider.model_calls()[-1].events_sent == 2000 + 6


def test_side_endpoints_through_the_sdks(fake_provider, conn):
    assert "gpt-4o" in [m.id for m in conn.openai().models.list()]
    assert "claude-test-1" in [m.id for m in conn.anthropic().models.list()]
    counted = conn.anthropic().messages.count_tokens(
        model="claude", messages=[{"role": "user", "content": "hello"}])
    assert counted.input_tokens > 0
    tokens = conn.gemini().models.count_tokens(model="gemini-2.5-flash", contents="hello")
    assert tokens.total_tokens > 0


def test_control_endpoint_scripts_over_http(fake_provider, conn):
    httpx.post(fake_provider.url + "/_fake/script",
               json={"replies": [{"text": "via http", "tool_calls": [["f", {"a": 1}]]}]})
    got = call(conn, "openai-chat", "gpt-4o", stream=False, tools=True)
    assert (got.text, got.tool_calls) == ("via http", [("f", {"a": 1})])
    log = httpx.get(fake_provider.url + "/_fake/requests").json()
    assert log[-1]["path"] == "/v1/chat/completions" and log[-1]["completed"]


def test_bad_json_is_a_400_in_the_format(fake_provider):
    resp = httpx.post(fake_provider.url + "/v1/messages", content=b"{nope")
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------ shapes vs recordings


def fixture_events(fmt: str) -> dict[str, list[dict]]:
    """Every event in the real recordings, by type (Chat and Gemini: by role)."""
    by_type: dict[str, list[dict]] = {}
    for path in (FIXTURES / fmt).glob("*.sse"):
        for obj in sse_objects(path.read_bytes()):
            by_type.setdefault(event_kind(fmt, obj), []).append(obj)
    return by_type


def sse_objects(raw: bytes) -> list[dict]:
    out = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data: ") and line[6:].strip() not in (b"[DONE]", b""):
            out.append(json.loads(line[6:]))
    return out


def event_kind(fmt: str, obj: dict) -> str:
    if fmt == "openai-chat":
        return "usage" if not obj["choices"] else "chunk"
    if fmt == "gemini":
        return "chunk"
    inner = [obj.get(k) for k in ("delta", "item", "content_block")]
    sub = next((i.get("type", "") for i in inner if isinstance(i, dict)), "")
    return f"{obj['type']}:{sub}"


IGNORED = {"obfuscation", "logprobs", "stop_details", "caller", "inference_geo",
           "finishMessage", "thoughtSignature", "encrypted_content", "completed_at",
           "frequency_penalty", "presence_penalty", "prompt_cache_retention", "billing"}


def keys(obj: dict) -> set[str]:
    return set(obj) - IGNORED


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_events_have_the_recorded_keys(fake_provider, fmt):
    """Each event we emit has the same keys as some recorded event of its kind."""
    recorded = fixture_events(fmt)
    reply = Reply(text="a b", tool_calls=[("f", {"x": 1})], usage=USAGE)
    if fmt in ("anthropic", "openai-responses"):
        reply.reasoning, reply.signature = "hmm", "sig"
    fake_provider.script([reply])
    if fmt == "gemini":
        url, body = "/v1beta/models/g:streamGenerateContent?alt=sse", {}
    else:
        url = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses",
               "anthropic": "/v1/messages"}[fmt]
        body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    ours = sse_objects(httpx.post(fake_provider.url + url, json=body).content)
    assert ours
    for obj in ours:
        kind = event_kind(fmt, obj)
        assert kind in recorded, f"{kind} never appears in the recordings"
        shapes = [keys(r) for r in recorded[kind]]
        if fmt == "gemini":  # per chunk the fields vary; ours must be a recorded subset
            assert any(keys(obj) <= s for s in shapes), obj
        else:
            assert keys(obj) in shapes, (kind, sorted(keys(obj)), [sorted(s) for s in shapes])


@pytest.mark.parametrize("fmt,fixture", [
    ("openai-chat", "completion-tool-calls-parallel.json"),
    ("openai-responses", "response-function-calls-parallel.json"),
    ("anthropic", "message-tool-use-parallel.json"),
    ("gemini", "generate-function-calls-parallel.json"),
])
def test_json_bodies_have_the_recorded_keys(fake_provider, fmt, fixture):
    real = json.loads((FIXTURES / fmt / fixture).read_text())
    fake_provider.script([Reply(text="x" if fmt == "anthropic" else None,
                                tool_calls=[("f", {"x": 1}), ("g", {})])])
    if fmt == "gemini":
        url, body = "/v1beta/models/g:generateContent", {}
    else:
        url = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses",
               "anthropic": "/v1/messages"}[fmt]
        body = {"model": "m"}
    ours = httpx.post(fake_provider.url + url, json=body).json()
    assert keys(ours) == keys(real)
    if fmt == "openai-chat":
        assert keys(ours["choices"][0]["message"]) == keys(real["choices"][0]["message"])
    if fmt == "anthropic":
        assert [keys(b) for b in ours["content"]] == [keys(b) for b in real["content"]]


@pytest.mark.parametrize("fmt", ["openai-responses", "anthropic", "gemini"])
def test_replayed_history_carries_the_signature_back(fake_provider, fmt, conn):
    sig = "c2lnbmF0dXJlLWZyb20tcHJvdmlkZXI="
    fake_provider.script([Reply(reasoning="Let me check.", signature=sig,
                                tool_calls=[("get_weather", {"city": "Paris"})]),
                          Reply(text="Sunny.")])
    first = call(conn, fmt, MODEL[fmt], stream=True, tools=True, prompt="weather?")
    history = tool_followup(fmt, "weather?", first, ["sunny"])
    call(conn, fmt, MODEL[fmt], stream=True, tools=True, history=history)
    echoed = reasoning_echo(fmt, fake_provider.model_calls()[-1].body)
    assert sig in [s for _, s in echoed]
    if fmt != "gemini":  # Gemini CLI replays thought parts too, but a text-less one is fine
        assert ("Let me check.", sig) in echoed
