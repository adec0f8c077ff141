"""Translation fidelity through mitmdump (issue 7), with the official SDKs as
clients and the fake provider sending legal but unusual streams:

- parallel tool calls whose argument fragments interleave, or arrive all in
  one chunk, reach every client whole and in index order;
- content, stop reason and usage inside the opening or closing event count;
- usage with the reasoning outside the completion adds up to the provider's total;
- a failed tool result stays a failure for targets with no error flag;
- a conversation that hops between two Anthropic-format providers and a chat
  provider (and the same for a Responses client and a Gemini client, each
  between two providers of its format and a chat provider): each upstream
  only ever receives its own signatures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_harness import base_url, e2e_config, provider_key
from fakeprovider import Reply
from fakeprovider.sdk import call, user_turn

pytestmark = pytest.mark.e2e

# name -> format: a chat provider, two Anthropic-format third parties (GLM,
# and another standing in for the user's own Anthropic), a Responses provider
PROVIDERS = {
    "ds": "openai-chat",
    "glm": "anthropic",
    "anth": "anthropic",
    "oai": "openai-responses",
    "oai2": "openai-responses",
    "gem": "gemini",
    "gem2": "gemini",
}
WEATHER_AND_TIME = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    providers = {
        name: {"format": fmt, "base_url": base_url(fmt, port), "keys": [provider_key(name)]}
        for name, fmt in PROVIDERS.items()
    }
    routes = [{"match": {"model": f"via-{name}"}, "to": f"{name}/up-{name}"} for name in providers]
    return e2e_config(port, providers, extra_routes=routes)


@pytest.fixture(autouse=True)
def keys(fake):
    """The fake provider takes these providers' keys too (``fake`` restores its own)."""
    fake.accept_keys([provider_key(name) for name in PROVIDERS])


def upstream_of(rec) -> str:
    (name,) = [name for name in PROVIDERS if rec.api_key == provider_key(name)]
    return name


# ---------------------------------------------------------------- raw streams


def sse(obj: dict[str, Any], event: str | None = None) -> str:
    return (f"event: {event}\n" if event else "") + f"data: {json.dumps(obj)}\n\n"


def chat_chunk(delta: dict | None, finish: str | None = None, **extra: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up-ds"}
    return sse({**head, "choices": choices, **extra})


def tool(index: int, args: str, call_id: str = "", name: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        out.update(id=call_id, type="function")
        out["function"]["name"] = name
    return out


CHAT_END = [
    chat_chunk({}, "tool_calls"),
    chat_chunk(None, usage={"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}),
    "data: [DONE]\n\n",
]
PARALLEL = {
    # both headers first, then the fragments alternate, cut inside strings
    "interleaved": [
        chat_chunk({"role": "assistant", "tool_calls": [
            tool(0, "", "call_a", "get_weather"), tool(1, "", "call_b", "get_time")]}),
        chat_chunk({"tool_calls": [tool(0, '{"ci')]}),
        chat_chunk({"tool_calls": [tool(1, '{"tz": "C')]}),
        chat_chunk({"tool_calls": [tool(0, 'ty": "Pa')]}),
        chat_chunk({"tool_calls": [tool(1, 'ET"}')]}),
        chat_chunk({"tool_calls": [tool(0, 'ris"}')]}),
        *CHAT_END,
    ],
    "all in one chunk": [
        chat_chunk({"role": "assistant", "tool_calls": [
            tool(0, '{"city": "Paris"}', "call_a", "get_weather"),
            tool(1, '{"tz": "CET"}', "call_b", "get_time")]}),
        *CHAT_END,
    ],
}


@pytest.mark.parametrize("shape", list(PARALLEL))
@pytest.mark.parametrize("client", ["anthropic", "openai-responses", "gemini"])
def test_parallel_calls_from_a_chat_provider_reach_the_client_whole(conn, fake, client, shape):
    fake.script([Reply(raw_events=PARALLEL[shape])])
    got = call(conn, client, "via-ds", stream=True, tools=True)
    assert got.tool_calls == WEATHER_AND_TIME
    assert got.stop == "tool_use"
    assert (got.input_tokens, got.output_tokens) == (11, 9)


def anthropic_all_in_message_start() -> list[str]:
    """Programmatic tool calling's shape: the whole answer inside message_start."""
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "up-anth",
        "content": [{"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                     "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }
    return [sse({"type": "message_start", "message": message}, "message_start"),
            sse({"type": "message_stop"}, "message_stop")]


def responses_all_in_completed() -> list[str]:
    """Items that only the final response.completed carries."""
    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": "up-oai",
                "status": "in_progress", "output": []}
    done = {
        **response, "status": "completed",
        "output": [
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": '{"city": "Paris"}', "status": "completed"},
        ],
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
    }
    return [sse({"type": "response.created", "response": response}, "response.created"),
            sse({"type": "response.completed", "response": done}, "response.completed")]


ENDS_ONLY = {"anth": anthropic_all_in_message_start, "oai": responses_all_in_completed}


@pytest.mark.parametrize(("provider", "client"), [
    ("anth", "openai-chat"), ("anth", "openai-responses"), ("anth", "gemini"),
    ("oai", "anthropic"), ("oai", "openai-chat"), ("oai", "gemini"),
])
def test_content_in_the_opening_or_closing_event_is_content(conn, fake, provider, client):
    fake.script([Reply(raw_events=ENDS_ONLY[provider]())])
    got = call(conn, client, f"via-{provider}", stream=True, tools=True)
    assert got.text == "Checking."
    assert got.tool_calls == [("get_weather", {"city": "Paris"})]
    assert got.stop == "tool_use"
    assert (got.input_tokens, got.output_tokens) == (12, 7)


# xAI's grok: completion_tokens without the reasoning; the total tells
GROK_USAGE = {"prompt_tokens": 291, "completion_tokens": 26, "total_tokens": 513,
              "completion_tokens_details": {"reasoning_tokens": 196}}


@pytest.mark.parametrize("client", ["anthropic", "openai-responses", "gemini"])
def test_usage_with_reasoning_outside_the_completion_adds_up(conn, fake, client):
    fake.script([Reply(raw_events=[
        chat_chunk({"role": "assistant", "reasoning_content": "Thinking."}),
        chat_chunk({"content": "Hi."}),
        chat_chunk({}, "stop"),
        chat_chunk(None, usage=GROK_USAGE),
        "data: [DONE]\n\n",
    ])])
    got = call(conn, client, "via-ds", stream=True)
    assert got.text == "Hi."
    # every client's own arithmetic: the output includes the reasoning, 291 + 222 = 513
    assert (got.input_tokens, got.output_tokens) == (291, 26 + 196)
    if client == "openai-responses":
        assert got.reasoning_tokens == 196
        assert got.raw.usage.total_tokens == 513
    if client == "gemini":
        usage = got.raw[-1].usage_metadata
        assert (usage.candidates_token_count, usage.thoughts_token_count) == (26, 196)
        assert usage.total_token_count == 513


def failed_tool_history(client: str) -> list[Any]:
    prompt = "Weather in Atlantis?"
    if client == "anthropic":
        call_block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                      "input": {"city": "Atlantis"}}
        result = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                  "content": "city not found"}
        return [*user_turn(client, prompt), {"role": "assistant", "content": [call_block]},
                {"role": "user", "content": [result]}]
    return [
        *user_turn(client, prompt),
        {"role": "model", "parts": [{"function_call": {
            "name": "get_weather", "args": {"city": "Atlantis"}}}]},
        {"role": "user", "parts": [{"function_response": {
            "name": "get_weather", "response": {"error": "city not found"}}}]},
    ]


@pytest.mark.parametrize("provider", ["oai", "ds"])
@pytest.mark.parametrize("client", ["anthropic", "gemini"])
def test_a_failed_tool_result_reaches_a_provider_without_an_error_flag_as_a_failure(
    conn, fake, client, provider
):
    fake.script([Reply(text="Atlantis is not a city I know.")])
    got = call(conn, client, f"via-{provider}", stream=True, tools=True,
               history=failed_tool_history(client))
    assert got.text == "Atlantis is not a city I know."
    (rec,) = fake.model_calls()
    if provider == "oai":
        (result,) = [i for i in rec.body["input"] if i.get("type") == "function_call_output"]
        output = result["output"]
    else:
        (result,) = [m for m in rec.body["messages"] if m["role"] == "tool"]
        output = result["content"]
    text = output if isinstance(output, str) else "".join(p.get("text", "") for p in output)
    assert text.startswith("Error: ") and "city not found" in text


# ---------------------------------------------------------------- signatures

THINKING = {"type": "enabled", "budget_tokens": 1024}
SIGNATURES = {"glm": "SIGGLMISSUED", "anth": "SIGANTHISSUED"}
ENVELOPE = "AG9tcj"  # the start of this project's own envelope, never for a provider


def test_a_conversation_hopping_providers_sends_each_only_its_own_signatures(conn, fake):
    hops = ["glm", "anth", "ds", "glm", "anth", "glm", "glm"]
    fake.script([
        Reply(reasoning=f"Turn {i}.", signature=SIGNATURES.get(name),
              tool_calls=[("get_weather", {"city": f"City{i}"})])
        for i, name in enumerate(hops)
    ])
    messages: list[Any] = user_turn("anthropic", "Weather in seven cities, one at a time?")
    for i, name in enumerate(hops):
        got = call(conn, "anthropic", f"via-{name}", stream=True, tools=True, history=messages,
                   thinking=THINKING, max_tokens=4096)
        assert got.tool_calls == [("get_weather", {"city": f"City{i}"})]
        messages += [
            {"role": "assistant", "content": got.turn},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": got.tool_ids[0], "content": "ok"}]},
        ]
    sent = fake.model_calls()
    assert [upstream_of(rec) for rec in sent] == hops
    # (signatures it gets back, thinking left on) for each hop
    want = [
        (set(), True),
        (set(), False),  # the open tool loop's thinking was glm's: off, not glm's block
        (set(), None),  # a chat provider: no signatures at all
        ({"glm"}, False),  # its own block is back; the last loop was the chat provider's
        ({"anth"}, False),
        ({"glm"}, False),
        ({"glm"}, True),  # its own thinking opens the last tool loop
    ]
    for i, (rec, (own, thinking)) in enumerate(zip(sent, want, strict=True)):
        body = rec.raw.decode()
        assert {n for n, sig in SIGNATURES.items() if sig in body} == own, (i, hops[i])
        assert ENVELOPE not in body, (i, hops[i])
        if thinking is not None:
            assert ("thinking" in rec.body) == thinking, (i, hops[i])
    assert sent[-1].raw.decode().count(SIGNATURES["glm"]) == 3


def test_a_responses_conversation_hopping_providers_sends_each_only_its_own(conn, fake):
    issued = {"oai": "ENCOAIISSUED", "oai2": "ENCOAI2ISSUED"}
    hops = ["oai", "oai2", "ds", "oai", "oai2"]
    script_weather_turns(fake, hops, issued)
    items: list[Any] = user_turn("openai-responses", "Weather in five cities, one at a time?")
    for i, name in enumerate(hops):
        got = call(conn, "openai-responses", f"via-{name}", stream=True, tools=True,
                   history=items, store=False, include=["reasoning.encrypted_content"])
        assert got.tool_calls == [("get_weather", {"city": f"City{i}"})]
        items += [*got.turn, {"type": "function_call_output", "call_id": got.tool_ids[0],
                              "output": "ok"}]
    assert_each_got_only_its_own(fake, hops, issued, [set(), set(), set(), {"oai"}, {"oai2"}])


def test_a_gemini_conversation_hopping_providers_sends_each_only_its_own(conn, fake):
    issued = {"gem": "U0lHR0VNT05FSVNTVUVE", "gem2": "U0lHR0VNVFdPSVNTVUVE"}  # base64
    hops = ["gem", "gem2", "ds", "gem", "gem2"]
    script_weather_turns(fake, hops, issued)
    contents: list[Any] = user_turn("gemini", "Weather in five cities, one at a time?")
    for i, name in enumerate(hops):
        got = call(conn, "gemini", f"via-{name}", stream=True, tools=True, history=contents)
        assert got.tool_calls == [("get_weather", {"city": f"City{i}"})]
        contents += [
            {"role": "model", "parts": got.turn},
            {"role": "user", "parts": [{"function_response": {
                "name": "get_weather", "response": {"output": "ok"}}}]},
        ]
    assert_each_got_only_its_own(fake, hops, issued, [set(), set(), set(), {"gem"}, {"gem2"}])


def script_weather_turns(fake, hops: list[str], issued: dict[str, str]) -> None:
    """One answer per hop: reasoning (signed when that provider issues signatures)
    and a get_weather call for City<i>."""
    fake.script([
        Reply(reasoning=f"Turn {i}.", signature=issued.get(name),
              tool_calls=[("get_weather", {"city": f"City{i}"})])
        for i, name in enumerate(hops)
    ])  # fmt: skip


def assert_each_got_only_its_own(fake, hops: list[str], issued: dict[str, str],
                                 want: list[set[str]]) -> None:
    """Request i went to hops[i] and carried exactly the signatures in want[i]
    (of those ``issued`` by each provider), and never one of our envelopes."""
    sent = fake.model_calls()
    assert [upstream_of(rec) for rec in sent] == hops
    for i, (rec, own) in enumerate(zip(sent, want, strict=True)):
        body = rec.raw.decode()
        assert {n for n, sig in issued.items() if sig in body} == own, (i, hops[i])
        assert ENVELOPE not in body, (i, hops[i])


# ------------------------------------------- issue 24: streams real providers send

NO_FINISH_USAGE = {"prompt_tokens": 14, "completion_tokens": 6, "total_tokens": 20}


@pytest.mark.parametrize("client", ["anthropic", "openai-responses", "gemini"])
def test_a_chat_stream_ended_by_done_alone_is_a_whole_answer(conn, fake, client):
    """Snowflake Cortex and some OpenRouter upstreams never set finish_reason:
    ``[DONE]`` ends the stream, the text and usage reach the client, no error."""
    fake.script([Reply(raw_events=[
        chat_chunk({"role": "assistant", "content": "Hello "}),
        chat_chunk({"content": "there."}),
        chat_chunk(None, usage=NO_FINISH_USAGE),
        "data: [DONE]\n\n",
    ])])
    got = call(conn, client, "via-ds", stream=True)
    assert got.text == "Hello there."
    assert got.stop == "end"
    assert (got.input_tokens, got.output_tokens) == (14, 6)


@pytest.mark.parametrize("client", ["anthropic", "openai-responses"])
def test_tool_calls_ended_by_done_alone_are_a_tool_use(conn, fake, client):
    fake.script([Reply(raw_events=[
        *PARALLEL["all in one chunk"][:1],
        # the empty legacy function_call some providers send beside real tool_calls
        chat_chunk({"function_call": {"name": "", "arguments": ""}}),
        chat_chunk(None, usage=NO_FINISH_USAGE),
        "data: [DONE]\n\n",
    ])])
    got = call(conn, client, "via-ds", stream=True, tools=True)
    assert got.tool_calls == WEATHER_AND_TIME  # and no nameless third call
    assert got.stop == "tool_use"
