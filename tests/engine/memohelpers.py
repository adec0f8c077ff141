"""What the memo's tests share (engine.translate.memo): edit sequences of a
conversation, one shaped request as the engine gets it, and the check that
nothing remembered was changed by a request."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.engine.core.calls import parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.translate import memo as memo_module
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.engine.translate.shaping import Asked, Shaped, shape_request
from omniroute_mitm.engine.translate.thinking import ThoughtCache
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import Text, TranslationError, counting_env, wrap_meta
from omniroute_mitm.translators.sse import loads_exact

TARGETS = ["openai-chat", "anthropic", "gemini", "openai-responses"]
ISSUERS = ["p1", "p2", "native"]


def rarely(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """``common``, and one time in twenty ``rare`` (an invalid member: one in
    a conversation makes it all an error, so most must translate)."""
    return st.integers(0, 19).flatmap(lambda n: rare if n == 0 else common)


def edits(items: st.SearchStrategy[Any]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A few edits of a conversation of ``items``: appended, changed,
    swapped, dropped, or the same again."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.lists(items, min_size=1, max_size=3)),
            st.tuples(st.just("change"), st.integers(0, 50), items),
            st.tuples(st.just("swap"), st.integers(0, 50), st.integers(0, 50)),
            st.tuples(st.just("drop"), st.integers(0, 50)),
            st.tuples(st.just("same"), st.none()),
        ),
        min_size=1,
        max_size=4,
    )


def edited(conversation: list[Any], edit: tuple[Any, ...]) -> list[Any]:
    out = list(conversation)
    kind = edit[0]
    if kind == "append":
        out += edit[1]
    elif out and kind == "change":
        out[edit[1] % len(out)] = edit[2]
    elif out and kind == "swap":
        i, j = edit[1] % len(out), edit[2] % len(out)
        out[i], out[j] = out[j], out[i]
    elif out and kind == "drop":
        del out[edit[1] % len(out)]
    return out


def shape(
    client: str,
    raw: bytes,
    target: str,
    issuer: str,
    memo: MessageMemo | None,
    partial: bool,
    url_model: str | None = None,
    thoughts: ThoughtCache | None = None,
) -> Any:
    """The Shaped request, or the error, as the engine gets them (a body
    split at its top level and not parsed, as the exchange hands it over;
    ``thoughts``: the thought cache, else an empty one)."""
    top = TopLevel.split(raw)
    stream = True if url_model is not None else None  # (Gemini: both in the URL)
    asked = Asked(lambda: parse_json(raw), raw, url_model, stream, True, top)
    thoughts = ThoughtCache() if thoughts is None else thoughts
    try:
        return shape_request(
            get_format(client), get_format(target), asked, model="m2", cap=50,
            issuer=issuer, thoughts=thoughts, env=counting_env(), beta=None,
            partial=[Text("so far ")] if partial else None, memo=memo,
        )  # fmt: skip
    except TranslationError as exc:
        return ("error", str(exc), exc.path)


def outcome(shaped: Any) -> Any:
    if isinstance(shaped, Shaped):
        return (shaped.body, shaped.headers, shaped.input_tokens, shaped.custom_tools,
                shaped.warnings, shaped.trimmed, shaped.prefix)  # fmt: skip
    return shaped


def assert_unchanged(memo: MessageMemo) -> None:
    """Every remembered item is still what its bytes parse into: no request
    changed a shared part in place."""
    for (fmt, i, _), (data, item) in memo._entries.items():
        assert item == memo_module.PARSERS[fmt].parse(loads_exact(data), i)
    for kept in memo._lists._kept:  # and the last lists' items (shared whole by a next turn)
        starts, ends = kept.value.spans
        assert len(kept.value.items) == len(starts) == len(ends)
        for i, item in enumerate(kept.value.items):
            raw = loads_exact(kept.body[starts[i] : ends[i]])
            assert item == memo_module.PARSERS[kept.key].parse(raw, i)  # type: ignore[index]


def assert_next_turn_parses_only_its_new_item(
    monkeypatch: Any, client: str, shape: Any, body: Any, history: list[Any]
) -> None:
    """Turn 2 of a conversation (``body(history, last)``) parses only its
    new last item: the memo has every other one (``shape(raw, target,
    issuer, memo, partial)``), and the translation is the fresh one."""
    import json

    parsed = counting_parser(monkeypatch, client)
    memo = MessageMemo()
    first = shape(body(history, "turn 1"), "openai-chat", "p1", memo, False)
    assert len(parsed) == len(history) + 1
    parsed.clear()
    raw = body(history, "turn 2")
    misses = memo.rendered.misses
    second = shape(raw, "openai-chat", "p1", memo, False)
    assert parsed == [len(history)]  # the new last item only
    # counted and rendered anew: the message holding it only (translators.rendered)
    assert memo.rendered.misses - misses == 2
    assert outcome(second) == outcome(shape(raw, "openai-chat", "p1", None, False))
    assert json.loads(second.body)["messages"][:-1] == json.loads(first.body)["messages"][:-1]


def envelope(fmt: str, key: str, by: str | None, extra: dict[str, Any] | None = None) -> str:
    """A signature in omniroute's envelope (``by``: who issued it)."""
    entry: dict[str, Any] = {key: "c2ln"}
    if by is not None:
        entry["by"] = by
    return wrap_meta({fmt: entry, **(extra or {})})


def assert_every_turn_fresh(
    client: str, shape: Any, body: Any, conversation: list[Any], steps: Any, data: Any
) -> None:
    """Each turn of ``conversation`` as ``steps`` edit it, to every target
    (to the client's own format as a continuation, so translated), twice
    through one memo: always the fresh translation, nothing remembered changed.
    (Any list is compared with the remembered ones: an opening of one byte.)"""
    memo = MessageMemo(opening=1)
    for n, step in enumerate([("same", None), *steps]):
        conversation = edited(conversation, step)
        raw = body(conversation, f"turn {n}")
        for target in TARGETS:
            partial = target == client or data.draw(st.booleans())
            issuer = data.draw(st.sampled_from(ISSUERS[:2]))
            fresh = outcome(shape(raw, target, issuer, None, partial))
            # twice: the second sees every item remembered, changed by nothing
            assert outcome(shape(raw, target, issuer, memo, partial)) == fresh
            assert outcome(shape(raw, target, issuer, memo, partial)) == fresh
        assert_unchanged(memo)


def assert_tiny_memo_fresh(shape: Any, body: Any, conversation: list[Any], size: int) -> None:
    memo = MessageMemo(max_bytes=size * 200)
    for n in range(3):
        raw = body(conversation, f"turn {n}")
        fresh = outcome(shape(raw, "gemini", "p1", None, False))
        assert outcome(shape(raw, "gemini", "p1", memo, False)) == fresh
    assert memo.held <= memo.max_bytes


def counting_parser(monkeypatch: Any, client: str) -> list[int]:
    """The indexes ``client``'s item parser is called with from now on."""
    parsed: list[int] = []
    real = memo_module.PARSERS[client]

    def counting(raw: Any, i: int) -> Any:
        parsed.append(i)
        return real.parse(raw, i)

    monkeypatch.setitem(memo_module.PARSERS, client, memo_module.ItemParser(real.member, counting))
    return parsed


def assert_errors_and_translations_both_come_up(
    elements: Any, shape: Any, body: Any, target: str = "gemini"
) -> None:
    """The property tests' conversations (lists of ``elements``) are not
    all errors (nor all valid)."""
    seen: set[bool] = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.lists(elements, max_size=8))
    def run(conversation: Any) -> None:
        seen.add(isinstance(shape(body(conversation, "t"), target, "p1", None, False), Shaped))

    run()
    assert seen == {True, False}
