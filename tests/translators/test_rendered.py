"""Messages rendered in the last request, reused (translators.rendered): a
request rendered with the memo gives the bytes, warnings and errors of one
rendered from scratch, whatever was rendered before, and a resent history
is not rendered again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators import estimate_tokens
from omniroute_mitm.translators.canonical import (
    Media,
    Message,
    Opaque,
    Reasoning,
    Refusal,
    Request,
    Text,
    ToolCall,
    ToolResult,
    TranslationError,
    counting_env,
)
from omniroute_mitm.translators.openai_chat import request_render as chat
from omniroute_mitm.translators.openai_responses import request_render as responses
from omniroute_mitm.translators.rendered import RenderMemo

RENDERERS = {"openai-chat": (chat, "messages"), "openai-responses": (responses, "input")}

IMAGE = Media("image/png", data="aGk=")

# A pool of parts, shared by every request of a conversation as the message
# memo shares them: the same object in two requests is the same message part.
words = st.text(alphabet="ab \n", max_size=5)
parts = st.one_of(
    st.builds(Text, words),
    st.builds(Refusal, words),
    st.builds(ToolCall, st.sampled_from(["c1", "c2", ""]), st.sampled_from(["Read", "Bash"]),
              st.sampled_from(["", "{}"])),  # "": an id drawn from the Env
    st.builds(ToolResult, st.sampled_from(["c1", "c2", "c9"]),
              st.lists(st.one_of(st.builds(Text, words), st.just(IMAGE)), max_size=2),
              st.booleans()),  # an image: held back for a user message after the results
    st.builds(Reasoning, words, st.sampled_from([
        {}, {"openai-chat": {"field": "reasoning"}},
        {"openai-responses": {"encrypted_content": "e1"}}])),
    st.just(IMAGE),
    st.just(Opaque("openai-chat", {"type": "text", "text": "o"})),
    st.just(Opaque("openai-responses", {"type": "item_reference", "id": "r"})),
    st.just(Opaque("anthropic", {"type": "mystery"}, unknown=("messages[0]", "mystery"))),
)  # fmt: skip
roles = st.sampled_from(["user", "assistant", "user", "assistant", "system"])
# a message: a role and indexes into the pool; meta of its own rarely
shapes = st.tuples(roles, st.lists(st.integers(0, 11), max_size=3), st.integers(0, 15))


def _message(pool: list[Any], shape: tuple[str, list[int], int]) -> Message:
    role, picks, flag = shape
    meta = {"openai-chat": {"role": "developer"}} if flag == 0 else {}
    return Message(role, [pool[i % len(pool)] for i in picks], meta)  # type: ignore[arg-type]


def _request(messages: list[Message]) -> Request:
    # a new Message per request (they are per request), the parts shared
    return Request("m", [Message(m.role, list(m.parts), dict(m.meta)) for m in messages])


def _render(fmt: str, messages: list[Message], turn: int, memo: RenderMemo | None) -> Any:
    """Bytes and warnings, or the error (ids drawn differ each turn)."""
    module, member = RENDERERS[fmt]
    request = _request(messages)
    env = counting_env(start=1000 * turn)
    try:
        body = module.render_request(request, env, memo)
    except TranslationError as exc:
        return ("error", str(exc))
    data = orjson.dumps(body) if memo is None else memo.dumps(body, member)
    return data, request.warnings


def _edit(messages: list[Message], edit: tuple[str, int, Message]) -> list[Message]:
    kind, at, message = edit
    out = list(messages)
    if kind == "append" or not out:
        out.append(message)
    elif kind == "change":
        out[at % len(out)] = message
    elif kind == "drop":
        del out[at % len(out)]
    elif kind == "cut":  # the last messages gone, a new one after (a retried turn)
        out = [*out[: at % len(out)], message]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(parts, min_size=1, max_size=12),
    st.lists(shapes, max_size=8),
    st.lists(st.tuples(st.sampled_from(["append", "change", "drop", "cut", "same"]),
                       st.integers(0, 20), shapes), max_size=6),
    st.sampled_from(sorted(RENDERERS)),
)  # fmt: skip
def test_every_request_renders_as_from_scratch(pool, start, steps, fmt):
    memo = RenderMemo()
    messages = [_message(pool, s) for s in start]
    for turn, (kind, at, shape) in enumerate([("same", 0, ("user", [], 1)), *steps]):
        messages = _edit(messages, (kind, at, _message(pool, shape)))
        fresh = _render(fmt, messages, turn, None)
        assert _render(fmt, messages, turn, memo) == fresh
        # twice: the second takes every message from the memo it can
        assert _render(fmt, messages, turn, memo) == fresh


@settings(max_examples=150, deadline=None)
@given(st.lists(parts, min_size=1, max_size=8), st.lists(shapes, max_size=6),
       st.lists(shapes, max_size=6))  # fmt: skip
def test_two_conversations_through_one_memo(pool, one, other):
    """Interleaved conversations (here with the same first message) each
    get their own rendering."""
    memo = RenderMemo()
    first = [_message(pool, ("user", [0], 1))]
    a = first + [_message(pool, s) for s in one]
    b = first + [_message(pool, s) for s in other]
    for turn, messages in enumerate([a, b, a + a[1:2], b + b[1:2], a]):
        for fmt in RENDERERS:
            assert _render(fmt, messages, turn, memo) == _render(fmt, messages, turn, None)


@settings(max_examples=100, deadline=None)
@given(st.lists(parts, min_size=1, max_size=8), st.lists(shapes, max_size=8), st.integers(0, 8))
def test_the_estimate_is_the_one_from_scratch(pool, shapes_, cut):
    memo = RenderMemo()
    messages = [_message(pool, s) for s in shapes_]
    for turn in (messages, messages[:cut], messages + messages[:2], messages):
        request = _request(turn)
        assert estimate_tokens(request, memo) == estimate_tokens(request)


def _history(n: int) -> list[Message]:
    out = [Message("user", [Text("Fix the bug.")])]
    for i in range(n):
        out += [
            Message("assistant", [Reasoning("look"), ToolCall(f"c{i}", "Read", "{}")]),
            Message("user", [ToolResult(f"c{i}", [Text("x = 1\n" * 20)])]),
        ]
    return out


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_the_next_turn_renders_only_its_new_messages(monkeypatch, fmt):
    module, _ = RENDERERS[fmt]
    renderer = module._MessagesRenderer if fmt == "openai-chat" else module._ItemRenderer
    method = "_message" if fmt == "openai-chat" else "message"
    rendered: list[Message] = []
    real = getattr(renderer, method)

    def counting(self: Any, message: Message, *args: Any) -> None:
        rendered.append(message)
        real(self, message, *args)

    monkeypatch.setattr(renderer, method, counting)
    memo = RenderMemo()
    history = _history(20)
    _render(fmt, [*history, Message("user", [Text("turn 1")])], 1, memo)
    rendered.clear()
    turn = [*history, Message("user", [Text("turn 2")])]
    got = _render(fmt, turn, 2, memo)
    assert [m.parts for m in rendered] == [[Text("turn 2")]]
    assert got == _render(fmt, turn, 2, None)


def test_a_call_without_an_id_gets_a_new_one_each_request():
    """An id the renderer drew is drawn again, not taken from last time."""
    memo = RenderMemo()
    messages = [Message("assistant", [ToolCall("", "Read", "{}")]), Message("user", [Text("q")])]
    one = _render("openai-chat", messages, 1, memo)
    two = _render("openai-chat", messages, 2, memo)
    assert b'"id":"call_1000"' in one[0]
    assert b'"id":"call_2000"' in two[0]


def test_an_image_held_back_goes_with_the_user_message_after_it():
    """The end of a message whose results held an image back is no place to
    start from: the next user message's text joins the image."""
    memo = RenderMemo()
    call = Message("assistant", [ToolCall("c1", "Shot", "{}")])
    result = Message("user", [ToolResult("c1", [IMAGE])])
    for turn, last in enumerate(["first", "second"]):
        messages = [call, result, Message("user", [Text(last)])]
        got = _render("openai-chat", messages, turn, memo)
        assert got == _render("openai-chat", messages, turn, None)
        user = orjson.loads(got[0])["messages"][-1]
        assert user["content"][-1] == {"type": "text", "text": last}


def test_the_memo_keeps_at_most_its_bytes_and_renderings():
    memo = RenderMemo(max_bytes=4000, max_runs=3)
    for n in range(12):
        messages = [Message("user", [Text(f"conversation {n}")]), *_history(n % 5)]
        _render("openai-chat", messages, n, memo)
        assert memo.held <= memo.max_bytes
        assert len(memo) <= 3


def test_a_message_with_meta_of_its_own_is_rendered_anew():
    """Meta is not in what is compared (rare, per request): such a message
    and those after it are rendered again."""
    memo = RenderMemo()
    start, text, question = Message("user", [Text("hi")]), Text("be brief"), Text("q")
    plain = [start, Message("system", [text]), Message("user", [question])]
    developer = [start, Message("system", [text], {"openai-chat": {"role": "developer"}}), plain[2]]
    for turn, messages in enumerate([plain, developer, plain]):
        got = _render("openai-chat", messages, turn, memo)
        assert got == _render("openai-chat", messages, turn, None)
    assert b'"role":"developer"' in _render("openai-chat", developer, 3, memo)[0]


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_equal_parts_that_render_apart_are_not_taken_for_each_other(fmt):
    """Parts are compared by identity: 1 == 1.0 and dicts equal in another
    key order render differently."""
    memo = RenderMemo()
    own = "openai-chat" if fmt == "openai-chat" else "openai-responses"
    kinds = [
        {"type": "x", "a": 1, "b": 2},
        {"type": "x", "a": 1.0, "b": 2},
        {"b": 2, "type": "x", "a": 1},
    ]
    first = Message("user", [Text("start")])
    for turn, data in enumerate(kinds):
        messages = [first, Message("user", [Opaque(own, data)]), Message("user", [Text("q")])]
        got = _render(fmt, messages, turn, memo)
        assert got == _render(fmt, messages, turn, None)
        assert orjson.dumps(data)[1:-1] in got[0]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"path": {"type": "string", "description": "café ☕"}}},
        {"type": "number", "minimum": 1.5, "maximum": 1e300, "enum": [1, 1.0, True, None]},
        {"type": "integer", "maximum": 2**70},  # (orjson refuses it: json counts it)
        {"a": [{"b": "\u2028\x00"}]},
    ],
)
def test_a_tool_schemas_count_is_the_json_length_every_time(schema) -> None:
    """The estimate counts a tool's schema as ``len(json.dumps(schema))``,
    remembered between requests: the same count the first time and after."""
    import json

    from omniroute_mitm.translators.canonical import Request, Tool
    from omniroute_mitm.translators.stream import estimate_tokens

    def request() -> Request:
        return Request(
            model="m", messages=[], tools=[Tool("t", None, json.loads(json.dumps(schema)))]
        )

    expected = max(1, (1 + len(json.dumps(schema))) // 4)
    assert [estimate_tokens(request()) for _ in range(3)] == [expected] * 3
