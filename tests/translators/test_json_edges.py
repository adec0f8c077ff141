"""The events' JSON goes through orjson where it can (translators/sse.py); what
orjson refuses must behave exactly as the json module did, through a whole
translated stream as a client sees it."""

from __future__ import annotations

import json
import math

import pytest
from omniroute_mitm.translators import Env, StreamTranslator, get_format
from omniroute_mitm.translators.sse import dumps, loads


def chat_stream(*deltas: str) -> bytes:
    chunks = [f'{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
              f'"choices":[{{"index":0,"delta":{d},"finish_reason":null}}]}}' for d in deltas]
    end = ('{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
           '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    return b"".join(f"data: {c}\n\n".encode() for c in [*chunks, end]) + b"data: [DONE]\n\n"


def anthropic_text(stream: bytes) -> str:
    text = ""
    for line in stream.decode().splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event.get("type") == "content_block_delta":
                text += event["delta"].get("text", "")
    return text


@pytest.mark.parametrize("extra, text", [
    ('"x":NaN', "nan"),  # json.loads reads NaN; orjson does not
    ('"x":123456789012345678901234567890', "big int"),  # beyond 64 bits
    ('"x":18446744073709551616', "just beyond 64 bits"),
    ('"x":"\\ud800"', "lone surrogate"),
    ('"x":1e400', "overflowing float"),
])
def test_events_orjson_refuses_translate_as_before(extra, text):
    translator = StreamTranslator(get_format("openai-chat"), get_format("anthropic"), Env(),
                                  model="m")
    delta = f'{{"content":"{text}",{extra}}}'
    out = translator.feed(chat_stream('{"role":"assistant"}', delta)) + translator.finish()
    assert anthropic_text(out) == text
    assert b"event: message_stop" in out and b"event: error" not in out


@pytest.mark.parametrize("value", [
    {"a": 2**70}, {1: "non-string key"}, {"t": ("x", 1.5)}, {"n": -(2**63)},
    {"text": "ünïcode \u2028 \n \x01 \"quoted\" / emoji \U0001f600"},
])
def test_dumps_writes_what_the_json_module_reads_back(value):
    reference = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(dumps(value)) == json.loads(reference)
    assert "\n" not in dumps(value)  # one SSE data line


def test_nan_is_written_as_valid_json():
    """The json module wrote NaN, which strict parsers (JSON.parse) refuse."""
    assert json.loads(dumps({"x": float("nan"), "y": float("inf")}), parse_constant=str) == {
        "x": None, "y": None}


def test_loads_accepts_what_json_accepts_and_rejects_what_it_rejects():
    for good in ('{"a":NaN}', '{"a":1e400}', '"\\ud800"', '[9223372036854775807]',
                 b'[18446744073709551615]', '{"s":"a 19-digit run 1234567890123456789"}'):
        assert repr(loads(good)) == repr(json.loads(good))
    # beyond 64 bits: a float, as JavaScript clients read it too
    assert loads('[123456789012345678901234567890]') == [1.2345678901234568e29]
    for bad in ("{", "nope", "{'a':1}", b"\xff"):
        with pytest.raises(ValueError):
            loads(bad)


def test_loads_exact_keeps_integers_beyond_64_bits_and_reads_what_json_reads():
    from omniroute_mitm.translators.sse import loads_exact

    big = 2**70
    assert loads_exact(b'{"seed": %d, "x": 1.5}' % big) == {"seed": big, "x": 1.5}
    assert isinstance(loads_exact(b'{"seed": %d}' % big)["seed"], int)
    assert math.isnan(loads_exact(b'{"t": NaN}')["t"])
    assert loads_exact('{"s": "caf\\u00e9 \u00e9"}'.encode()) == {"s": "caf\u00e9 \u00e9"}
    with pytest.raises(ValueError, match="Expecting"):
        loads_exact(b"{bad")
