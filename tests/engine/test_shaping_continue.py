"""A continuation's request: the partial answer handed over as its target
continues (a prefill, a Chat prefix, or an instruction)."""

from __future__ import annotations

import json

import pytest
from omniroute_mitm.engine.translate.shaping import CONTINUE_INSTRUCTION, Asked, shape_request
from omniroute_mitm.engine.translate.thinking import ThoughtCache
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import Text, counting_env

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Count."}]}


def shaped(target: str, how, partial):
    asked = Asked(BODY, json.dumps(BODY).encode(), None, None, True)
    return shape_request(get_format("openai-chat"), get_format(target), asked, model="m", cap=None,
                         issuer="x", thoughts=ThoughtCache(), env=counting_env(), beta=None,
                         partial=partial, how=how)  # fmt: skip


def test_a_chat_prefix_target_gets_the_partial_answer_marked_and_no_instruction():
    out = shaped("openai-chat", "prefix", [Text("one two ")])
    messages = json.loads(out.body)["messages"]
    assert messages[-1] == {"role": "assistant", "content": "one two ", "prefix": True}
    assert CONTINUE_INSTRUCTION not in out.body.decode()
    assert (out.prefix, out.trimmed) == ("one two ", "")  # whitespace kept: it is no prefill


def test_nothing_of_the_answer_in_text_asks_anew_without_a_prefix():
    out = shaped("openai-chat", "prefix", [])
    messages = json.loads(out.body)["messages"]
    assert messages[-1]["role"] == "user" and "prefix" not in json.dumps(messages)
    assert out.prefix == ""


@pytest.mark.parametrize("target", ["openai-chat", "openai-responses", "gemini"])
def test_an_instruction_target_gets_the_partial_turn_then_the_instruction(target):
    out = shaped(target, "instruction", [Text("one two ")])
    text = out.body.decode()
    assert "one two" in text and CONTINUE_INSTRUCTION in text and '"prefix"' not in text
    assert out.prefix == ""


def test_an_anthropic_prefill_is_trimmed_of_its_trailing_whitespace():
    out = shaped("anthropic", "prefill", [Text("one two ")])
    last = json.loads(out.body)["messages"][-1]
    assert last["role"] == "assistant" and "prefix" not in last
    content = last["content"]
    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    assert (text, out.trimmed) == ("one two", " ")
    assert CONTINUE_INSTRUCTION not in out.body.decode()
