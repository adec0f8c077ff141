"""Signatures go back only to the provider (or native destination) that
issued them: stamping on the way to the client, filtering on the way out."""

from __future__ import annotations

import copy
import json

import pytest
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    Message,
    Reasoning,
    ToolCall,
    counting_env,
    unwrap_meta,
    wrap_meta,
)
from omniroute_mitm.translators.provenance import (
    keep_issued,
    outbound_body,
    outbound_parsed,
    stamp_bytes,
)


def envelope(fmt: str, key: str, value: str, by: str) -> str:
    return wrap_meta({fmt: {key: value, "by": by}})


def test_passthrough_stream_signature_becomes_an_envelope_naming_the_provider() -> None:
    events = [
        {
            "type": "message_start",
            "message": {"id": "m", "model": "x", "content": [], "usage": {"input_tokens": 1}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "RAWSIG=="},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    fmt = get_format("anthropic")
    for step in (len(data), 5, 1):  # the signature split across chunks too
        t = StreamTranslator(fmt, fmt, counting_env(), model="m", issuer="glm")
        out = b"".join(t.feed(data[i : i + step]) for i in range(0, len(data), step))
        out += t.finish()
        assert b"RAWSIG" not in out
        sig = json.loads(out.split(b"\n")[7][6:])["delta"]["signature"]
        assert unwrap_meta(sig) == {"anthropic": {"signature": "RAWSIG==", "by": "glm"}}
        # everything else as sent
        assert out.replace(sig.encode(), b"RAWSIG==") == data


def test_passthrough_without_signatures_is_the_same_bytes() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    assert outbound_body("anthropic", "glm", body) is body
    assert outbound_body("anthropic", "native", body) is body
    native_only = json.dumps(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "t", "signature": "RAW"}],
                }
            ]
        }
    ).encode()
    assert outbound_body("anthropic", "native", native_only) is native_only


def _anthropic_body(*signatures: str) -> bytes:
    content = [{"type": "thinking", "thinking": "t", "signature": s} for s in signatures]
    return json.dumps(
        {"messages": [{"role": "assistant", "content": [*content, {"type": "text", "text": "x"}]}]}
    ).encode()


@pytest.mark.parametrize(
    ("target", "kept"),
    [("native", ["RAW"]), ("glm", ["GLMSIG"]), ("kimi", []), ("other", [])],
)
def test_anthropic_body_keeps_only_the_targets_signatures(target: str, kept: list[str]) -> None:
    foreign = wrap_meta({"gemini": {"thoughtSignature": "G", "by": "gem"}})
    body = _anthropic_body("RAW", envelope("anthropic", "signature", "GLMSIG", "glm"), foreign)
    sent = json.loads(outbound_body("anthropic", target, body))
    blocks = sent["messages"][0]["content"]
    assert [b["signature"] for b in blocks if b["type"] == "thinking"] == kept
    assert blocks[-1] == {"type": "text", "text": "x"}


def test_a_parsed_body_is_filtered_for_one_target_and_left_whole_for_the_next() -> None:
    """The exchange parses a body once and may try several targets in turn:
    filtering it for one must not take the next one's signatures away."""
    bodies = {
        "anthropic": json.loads(_anthropic_body(
            "RAW", envelope("anthropic", "signature", "GLMSIG", "glm"))),
        "gemini": {"contents": [{"role": "model", "parts": [
            {"text": "t", "thought": True,
             "thoughtSignature": envelope("gemini", "thoughtSignature", "G", "gem")},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "RAWG"}]}]},
        "openai-responses": {"input": [
            {"type": "reasoning", "summary": [], "encrypted_content": "RAWENC"},
            {"type": "reasoning", "summary": [],
             "encrypted_content": envelope("openai-responses", "encrypted_content", "E", "oai")},
            {"role": "user", "content": "hi"}]},
    }  # fmt: skip
    for fmt, body in bodies.items():
        before = copy.deepcopy(body)
        for target in ("glm", "gem", "oai", "native", "other"):
            out = outbound_parsed(fmt, target, body)
            assert body == before, (fmt, target)  # untouched for the next attempt
            raw = json.dumps(body).encode()
            expected = json.loads(outbound_body(fmt, target, raw))
            assert (body if out is None else out) == expected, (fmt, target)


def test_gemini_body_unwraps_its_own_and_drops_the_rest() -> None:
    mine = envelope("gemini", "thoughtSignature", "GEMSIG", "gem")
    theirs = envelope("gemini", "thoughtSignature", "OTHER", "gem2")
    body = json.dumps(
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [
                        {"text": "thinking", "thought": True, "thoughtSignature": theirs},
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": theirs},
                        {"text": "x", "thoughtSignature": mine},
                    ],
                }
            ]
        }
    ).encode()
    parts = json.loads(outbound_body("gemini", "gem", body))["contents"][0]["parts"]
    assert parts == [
        {
            "functionCall": {"name": "f", "args": {}},
            "thoughtSignature": "skip_thought_signature_validator",
        },
        {"text": "x", "thoughtSignature": "GEMSIG"},
    ]
    native = json.loads(outbound_body("gemini", "native", body))["contents"][0]["parts"]
    assert "GEMSIG" not in json.dumps(native) and len(native) == 2


def test_code_assist_native_body_is_filtered_inside_its_envelope() -> None:
    theirs = envelope("gemini", "thoughtSignature", "OTHER", "gem2")
    inner = {"contents": [{"role": "model", "parts": [{"text": "x", "thoughtSignature": theirs}]}]}
    body = json.dumps({"model": "m", "project": "p", "request": inner}).encode()
    sent = json.loads(outbound_body("gemini", "native", body))
    assert sent["request"]["contents"][0]["parts"] == [{"text": "x"}]


def test_responses_body_reasoning_items_by_issuer() -> None:
    mine = envelope("openai-responses", "encrypted_content", "ENC1", "oai")
    items = [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "RAWENC"},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": mine},
        {"type": "message", "role": "user", "content": "hi"},
    ]
    body = json.dumps({"input": items}).encode()
    to_oai = json.loads(outbound_body("openai-responses", "oai", body))["input"]
    assert [i.get("encrypted_content") for i in to_oai] == ["ENC1", None]
    to_native = json.loads(outbound_body("openai-responses", "native", body))["input"]
    assert [i.get("encrypted_content") for i in to_native] == ["RAWENC", None]


def test_thinking_turned_off_when_a_tool_loop_loses_its_thinking() -> None:
    body = {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "RAW"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
    }
    sent = json.loads(outbound_body("anthropic", "glm", json.dumps(body).encode()))
    assert "thinking" not in sent and "context_management" not in sent
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"


def test_stamp_bytes_leaves_envelopes_and_the_gemini_placeholder_alone() -> None:
    already = envelope("gemini", "thoughtSignature", "S", "gem").encode()
    data = (
        b'{"thoughtSignature":"'
        + already
        + b'"},{"thoughtSignature":"skip_thought_signature_validator"}'
    )
    assert stamp_bytes("gemini", "gem", data) == data


def test_canonical_requests_keep_only_the_targets_signatures() -> None:
    messages = [
        Message(
            "assistant",
            [
                Reasoning("a", meta={"anthropic": {"signature": "S1", "by": "glm"}}),
                Reasoning("b", meta={"anthropic": {"signature": "S2"}}),  # as the client sent it
                ToolCall(
                    "c",
                    "f",
                    "{}",
                    meta={
                        "gemini": {"thoughtSignature": "G", "by": "gem"},
                        "openai-responses": {"namespace": "ns"},
                    },
                ),
            ],
        )
    ]
    assert keep_issued(messages, "anthropic", "glm") == 1
    assert [p.meta for p in messages[0].parts[:2]] == [{"anthropic": {"signature": "S1"}}, {}]
    keep_issued(messages, "gemini", "gem2")
    assert messages[0].parts[2].meta == {"gemini": {}, "openai-responses": {"namespace": "ns"}}
