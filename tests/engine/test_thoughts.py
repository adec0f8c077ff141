"""The thinking-metadata cache for clients that cannot carry it (engine.thoughts)."""

from __future__ import annotations

from omniroute_mitm.engine.translate.thinking import ThoughtCache, needs_cache
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Message,
    Reasoning,
    StreamStart,
    Text,
    ToolCall,
    ToolResult,
)

GEM = {"gemini": {"thoughtSignature": "sig-g"}}
ANT = {"anthropic": {"signature": "sig-a"}}


def chat_turn(*calls: str, text: str = "") -> Message:
    """An assistant turn as an OpenAI Chat client sends it back: no meta."""
    parts: list = [Text(text)] if text else []
    parts += [ToolCall(c, "f", "{}") for c in calls]
    return Message("assistant", parts)


def test_needs_cache_only_for_chat_clients_of_another_format():
    assert needs_cache("openai-chat", "gemini") and needs_cache("openai-chat", "anthropic")
    assert not needs_cache("openai-chat", "openai-chat")
    assert not needs_cache("anthropic", "gemini") and not needs_cache("gemini", "anthropic")


def test_gemini_call_signature_is_restored():
    cache = ThoughtCache()
    assert cache.record("gemini", [Text("hi"), ToolCall("c1", "f", "{}", meta=GEM)]) == 1
    messages = [Message("user", [Text("q")]), chat_turn("c1")]
    assert cache.restore("gemini", messages) == 1
    (call,) = messages[1].parts
    assert isinstance(call, ToolCall) and call.meta == GEM


def test_anthropic_thinking_goes_first_before_text_and_call():
    cache = ThoughtCache()
    parts = [Reasoning("think", meta=ANT), Text("Let me look"), ToolCall("t1", "f", "{}")]
    assert cache.record("anthropic", parts) == 1
    message = chat_turn("t1", text="Let me look")
    assert cache.restore("anthropic", [message]) == 1
    kinds = [type(p).__name__ for p in message.parts]
    assert kinds == ["Reasoning", "Text", "ToolCall"]
    assert message.parts[0] == Reasoning("think", meta=ANT)
    assert message.parts[2].meta == {}  # Anthropic's tool_use has no meta of its own


def test_interleaved_thinking_goes_before_each_call():
    cache = ThoughtCache()
    r1, r2 = Reasoning("a", meta=ANT), Reasoning("b", meta={"anthropic": {"signature": "s2"}})
    cache.record("anthropic", [r1, ToolCall("t1", "f"), r2, ToolCall("t2", "f")])
    message = chat_turn("t1", "t2")
    assert cache.restore("anthropic", [message]) == 2
    assert [getattr(p, "text", getattr(p, "id", None)) for p in message.parts] == [
        "a",
        "t1",
        "b",
        "t2",
    ]


def test_parallel_calls_share_the_thinking_once():
    cache = ThoughtCache()
    cache.record("anthropic", [Reasoning("a", meta=ANT), ToolCall("t1", "f"), ToolCall("t2", "f")])
    assert "t1" in cache and "t2" not in cache  # nothing of its own to keep
    message = chat_turn("t1", "t2")
    cache.restore("anthropic", [message])
    assert [type(p).__name__ for p in message.parts] == ["Reasoning", "ToolCall", "ToolCall"]


def test_never_restored_to_another_format():
    cache = ThoughtCache()
    cache.record("gemini", [Reasoning("t", meta=GEM), ToolCall("c1", "f", meta=GEM)])
    message = chat_turn("c1")
    assert cache.restore("anthropic", [message]) == 0
    assert cache.restore("openai-responses", [message]) == 0
    assert message.parts == [ToolCall("c1", "f", "{}")]


def test_existing_meta_and_thinking_are_kept():
    cache = ThoughtCache()
    cache.record("anthropic", [Reasoning("cached", meta=ANT), ToolCall("t1", "f")])
    own = Reasoning("own", meta={"anthropic": {"signature": "own"}})
    message = Message("assistant", [own, ToolCall("t1", "f")])
    cache.restore("anthropic", [message])
    assert message.parts == [own, ToolCall("t1", "f")]
    cache.record("gemini", [ToolCall("c1", "f", meta=GEM)])
    mine = {"gemini": {"thoughtSignature": "mine"}}
    message = Message("assistant", [ToolCall("c1", "f", meta=mine)])
    assert cache.restore("gemini", [message]) == 0
    assert message.parts[0].meta == mine


def test_unsigned_reasoning_and_user_messages_are_left_alone():
    cache = ThoughtCache()
    assert cache.record("anthropic", [Reasoning("plain"), ToolCall("t1", "f")]) == 0
    assert len(cache) == 0
    cache.record("gemini", [ToolCall("c1", "f", meta=GEM)])
    user = Message("user", [ToolResult("c1", [Text("ok")])])
    assert cache.restore("gemini", [user]) == 0


def test_restored_copies_do_not_alias_the_cache():
    cache = ThoughtCache()
    cache.record("gemini", [ToolCall("c1", "f", meta=GEM)])
    first = chat_turn("c1")
    cache.restore("gemini", [first])
    first.parts[0].meta["gemini"]["thoughtSignature"] = "changed"
    second = chat_turn("c1")
    cache.restore("gemini", [second])
    assert second.parts[0].meta == GEM


def test_lru_is_bounded_and_use_refreshes():
    cache = ThoughtCache(capacity=2)
    cache.record("gemini", [ToolCall("a", "f", meta=GEM)])
    cache.record("gemini", [ToolCall("b", "f", meta=GEM)])
    assert cache.get("a", "gemini") is not None  # a is now the most recent
    cache.record("gemini", [ToolCall("c", "f", meta=GEM)])
    assert len(cache) == 2 and "a" in cache and "b" not in cache and "c" in cache


def test_stream_recorder_collects_meta_from_block_ends():
    cache = ThoughtCache()
    recorder = cache.recorder("anthropic")
    start = BlockStart(1, ToolCall("t1", "f"))
    recorder.feed([StreamStart("m", "x"), BlockStart(0, Reasoning()), BlockDelta(0, "thi")])
    recorder.feed([BlockDelta(0, "nk"), BlockEnd(0, ANT), start, BlockDelta(1, "{}")])
    assert len(cache) == 0  # recorded when the call's block ends
    recorder.feed([BlockEnd(1), Finish("tool_use")])
    assert recorder.recorded == 1
    assert start.part == ToolCall("t1", "f")  # the events are not changed
    message = chat_turn("t1")
    cache.restore("anthropic", [message])
    assert message.parts[0] == Reasoning("think", meta=ANT)


def test_stream_recorder_gemini_signature_on_the_call():
    cache = ThoughtCache()
    observe = cache.observer("openai-chat", "gemini")
    assert observe is not None and cache.observer("anthropic", "gemini") is None
    observe([BlockStart(0, ToolCall("c1", "f")), BlockDelta(0, "{}"), BlockEnd(0, GEM)])
    assert cache.get("c1", "gemini") is not None
    assert cache.get("c1", "anthropic") is None
