"""Every client format x every provider format, streaming and not, text and
parallel tool calls: the official SDK, aimed at its real host through mitmdump,
ends with exactly what the fake provider said."""

from __future__ import annotations

import pytest
from e2e_harness import CLIENT_KEY, FORMATS, provider_key
from fakeprovider import Reply, Usage
from fakeprovider.sdk import Result, call, tool_followup
from fakeprovider.upstream import last_user_text, reasoning_echo, tool_exchange

pytestmark = pytest.mark.e2e

USAGE = Usage(input=120, output=45, cached=20, reasoning=5)
PROMPT = "What is the weather in Paris, and what time is it there?"
TEXT = Reply(text="It is sunny in Paris, 21 degrees.", usage=USAGE)
CALLS = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})]
TOOLS = Reply(tool_calls=CALLS, usage=USAGE)
NO_REASONING_COUNT = {"anthropic"}  # formats whose usage cannot carry a reasoning count


def upstream_model(rec) -> str:
    if rec.format == "gemini":
        return rec.path.rsplit("/", 1)[-1].split(":", 1)[0]
    return rec.body["model"]


def check_request(fake, client: str, provider: str, stream: bool) -> None:
    """The provider got one call in its own format, with its key and not the client's."""
    calls = fake.model_calls()
    assert len(calls) == 1, [c.path for c in calls]
    rec = calls[0]
    assert rec.format == provider
    assert upstream_model(rec) == f"upstream-{provider}"
    assert rec.api_key == provider_key(provider)
    assert not rec.carries(CLIENT_KEY), "the client's key reached the provider"
    assert last_user_text(provider, rec.body) == PROMPT
    if stream:
        assert rec.stream, "a streaming client must stream upstream (time to first byte)"
    assert rec.completed


def check_usage(client: str, provider: str, got: Result) -> None:
    assert (got.input_tokens, got.output_tokens) == (USAGE.input, USAGE.output)
    assert got.cached_tokens == USAGE.cached
    if client not in NO_REASONING_COUNT and provider not in NO_REASONING_COUNT:
        assert got.reasoning_tokens == USAGE.reasoning


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_text(conn, fake, client, provider, stream):
    fake.script([TEXT])
    got = call(conn, client, f"to-{provider}", stream=stream, prompt=PROMPT)
    assert got.text == TEXT.text
    assert got.tool_calls == []
    assert got.stop == "end"
    check_usage(client, provider, got)
    check_request(fake, client, provider, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_parallel_tool_calls(conn, fake, client, provider, stream):
    fake.script([TOOLS])
    got = call(conn, client, f"to-{provider}", stream=stream, tools=True, prompt=PROMPT)
    assert got.tool_calls == CALLS
    assert got.stop == "tool_use"
    assert got.text == ""
    if client != "gemini":  # Gemini clients pair calls by name and order
        assert len(set(got.tool_ids)) == 2 and all(got.tool_ids)
    check_usage(client, provider, got)
    check_request(fake, client, provider, stream)
    names = _tool_names(provider, fake.model_calls()[0].body)
    assert names == ["get_weather", "get_time"], "the tool definitions must reach the provider"


@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_max_tokens_stop(conn, fake, client, provider):
    fake.script([Reply(text="The answer was cut", stop="max_tokens", usage=USAGE)])
    got = call(conn, client, f"to-{provider}", stream=True, prompt=PROMPT)
    assert (got.text, got.stop) == ("The answer was cut", "max_tokens")
    check_usage(client, provider, got)


def _tool_names(fmt: str, body: dict) -> list[str]:
    tools = body.get("tools") or []
    if fmt == "gemini":
        return [d["name"] for t in tools for d in t.get("functionDeclarations", [])]
    if fmt == "openai-chat":
        return [t["function"]["name"] for t in tools]
    return [t["name"] for t in tools]


@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_tool_results_reach_the_provider_paired_with_their_calls(conn, fake, client, provider):
    fake.script([TOOLS, Reply(text="Sunny, and it is noon.")])
    first = call(conn, client, f"to-{provider}", stream=True, tools=True, prompt=PROMPT)
    history = tool_followup(client, PROMPT, first, ["sunny, 21C", "12:00"])
    second = call(conn, client, f"to-{provider}", stream=True, tools=True, history=history)
    assert second.text == "Sunny, and it is noon."
    rec = fake.model_calls()[-1]
    calls, results = tool_exchange(provider, rec.body)
    assert [(name, args) for _, name, args in calls] == CALLS
    assert [out for _, out in results] == ["sunny, 21C", "12:00"]
    if provider != "gemini":
        call_ids = [cid for cid, _, _ in calls]
        assert all(call_ids) and len(set(call_ids)) == 2
        assert [cid for cid, _ in results] == call_ids, "each result must name its call"
    assert not rec.carries(CLIENT_KEY)


SIG = "c2lnbmF0dXJlLWZyb20tdGhlLXByb3ZpZGVy"  # base64: Gemini's signatures are bytes
THOUGHT = "Let me check the weather first."


@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", ["openai-responses", "anthropic", "gemini"])
def test_reasoning_reaches_the_client_and_its_signature_comes_back(conn, fake, client,
                                                                   provider):
    """Thinking shows in the client; replayed history gives the provider back its own
    signature (Anthropic "invalid signature", Gemini "missing thought_signature") or,
    for a Chat provider, its reasoning_content (DeepSeek rejects tool turns without)."""
    signature = None if provider == "openai-chat" else SIG
    fake.script([Reply(reasoning=THOUGHT, signature=signature, tool_calls=[CALLS[0]],
                       usage=USAGE),
                 Reply(text="Sunny.")])
    first = call(conn, client, f"to-{provider}", stream=True, tools=True, prompt=PROMPT)
    assert first.tool_calls == [CALLS[0]]
    assert first.reasoning == THOUGHT
    history = tool_followup(client, PROMPT, first, ["sunny"])
    assert call(conn, client, f"to-{provider}", stream=True, tools=True,
                history=history).text == "Sunny."
    echoed = reasoning_echo(provider, fake.model_calls()[-1].body)
    if provider == "openai-chat":
        assert [text for text, _ in echoed] == [THOUGHT]
    else:
        assert [sig for _, sig in echoed if sig] == [SIG]
