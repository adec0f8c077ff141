"""Inputs for scripts/bench_translate.py, built in code (no network, no files).

* :func:`claude_code_request` - an Anthropic ``/v1/messages`` body the size
  and shape Claude Code sends: system blocks with cache_control, 11 turns
  with thinking, parallel tool calls and tool results, 9 tools with ~35 KB
  of JSON schema.
* :func:`long_codex_request`, :func:`long_gemini_request`,
  :func:`long_chat_request` - the same session as Codex CLI, Gemini CLI and
  an OpenAI Chat agent send it (``LONG_REQUESTS``).
* :func:`stream_events` - a canonical event list for one streamed answer
  (thinking, text deltas of a few tokens, two tool calls with fragmented
  arguments, usage at the end); :func:`provider_stream` encodes it with a
  format's own stream encoder and cuts it into SSE events, exactly
  ``n_events`` of them, as a network delivers them.

Everything is deterministic (seeded ``random.Random``, counting ids).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Meta,
    Reasoning,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    counting_env,
)

MODEL = "claude-sonnet-4-5-20250929"

_WORDS = (
    "the parser fails because the tokenizer returns an empty span when the input ends "
    "with a trailing newline so the loop never advances and the test times out instead "
    "of raising a clear error I will read the file first then change the boundary check "
    "and run the suite again to confirm nothing else depends on the old behaviour this "
    "function handles nested brackets escaped quotes unicode identifiers and comments "
    "which makes the fix slightly more involved than it looks at first glance"
).split()


def _prose(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def _paragraphs(rng: random.Random, chars: int) -> str:
    """Instruction-like text of about ``chars`` characters."""
    out: list[str] = []
    size = 0
    while size < chars:
        para = "- " + _prose(rng, rng.randint(18, 40)).capitalize() + "."
        out.append(para)
        size += len(para) + 1
    return "\n".join(out)


# ----------------------------------------------------------------------- request


def _tool(rng: random.Random, name: str, props: dict[str, str], required: list[str]) -> dict:
    """A Claude Code style tool: long description, draft-07 schema."""
    properties: dict[str, Any] = {}
    for prop, kind in props.items():
        schema: dict[str, Any] = {"description": _prose(rng, rng.randint(12, 30)).capitalize()}
        if kind == "array":
            schema.update(
                type="array",
                items={
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "minLength": 1},
                        "status": {
                            "type": "string",
                            "enum": ["pending", "in_progress", "completed"],
                        },
                        "activeForm": {"type": "string", "minLength": 1},
                    },
                    "required": ["content", "status", "activeForm"],
                    "additionalProperties": False,
                },
            )
        elif kind == "enum":
            schema.update(type="string", enum=["content", "files_with_matches", "count"])
        else:
            schema["type"] = kind
        properties[prop] = schema
    return {
        "name": name,
        "description": _paragraphs(rng, 3000),
        "input_schema": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def claude_code_tools(rng: random.Random) -> list[dict[str, Any]]:
    s, n, b = "string", "number", "boolean"
    return [
        _tool(rng, "Task", {"description": s, "prompt": s, "subagent_type": s}, ["prompt"]),
        _tool(
            rng,
            "Bash",
            {"command": s, "timeout": n, "description": s, "run_in_background": b},
            ["command"],
        ),
        _tool(rng, "Glob", {"pattern": s, "path": s}, ["pattern"]),
        _tool(
            rng,
            "Grep",
            {
                "pattern": s,
                "path": s,
                "glob": s,
                "output_mode": "enum",
                "-i": b,
                "-n": b,
                "head_limit": n,
                "multiline": b,
            },
            ["pattern"],
        ),
        _tool(rng, "Read", {"file_path": s, "offset": n, "limit": n}, ["file_path"]),
        _tool(
            rng,
            "Edit",
            {"file_path": s, "old_string": s, "new_string": s, "replace_all": b},
            ["file_path", "old_string", "new_string"],
        ),
        _tool(rng, "Write", {"file_path": s, "content": s}, ["file_path", "content"]),
        _tool(rng, "WebFetch", {"url": s, "prompt": s}, ["url", "prompt"]),
        _tool(rng, "TodoWrite", {"todos": "array"}, ["todos"]),
    ]


def _code(rng: random.Random, lines: int) -> str:
    out = []
    for i in range(1, lines + 1):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 7))]
        out.append(f"{i:>6}\t    {'_'.join(words[:2])} = {' + '.join(words[2:]) or 'None'}")
    return "\n".join(out)


def _signature(rng: random.Random) -> str:
    return "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in range(344)
    )


def claude_code_request(seed: int = 7) -> dict[str, Any]:
    """A realistic Claude Code request body (Anthropic Messages format)."""
    rng = random.Random(seed)
    ephemeral = {"type": "ephemeral"}
    reminder = "<system-reminder>\n" + _paragraphs(rng, 1500) + "\n</system-reminder>"

    def think() -> dict[str, Any]:
        return {"type": "thinking", "thinking": _prose(rng, 60), "signature": _signature(rng)}

    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": reminder},
                {
                    "type": "text",
                    "text": "The test tests/test_parser.py::test_trailing_newline "
                    "hangs. Find out why and fix it, then run the whole suite.",
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                think(),
                {"type": "text", "text": "I'll start by running the failing test."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "Bash",
                    "input": {
                        "command": "pytest tests/test_parser.py -x -q --timeout 20",
                        "description": "Run the failing parser test",
                    },
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": _code(rng, 40),
                    "is_error": True,
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_02",
                    "name": "Read",
                    "input": {"file_path": "/home/dev/project/src/parser/tokenizer.py"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [{"type": "text", "text": _code(rng, 120)}],
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                think(),
                {
                    "type": "text",
                    "text": "The loop in `next_span` never advances on an empty "
                    "span. Let me check the callers before changing it.",
                },
                {
                    "type": "tool_use",
                    "id": "toolu_03",
                    "name": "Grep",
                    "input": {
                        "pattern": "next_span\\(",
                        "path": "src",
                        "output_mode": "content",
                        "-n": True,
                    },
                },
                {
                    "type": "tool_use",
                    "id": "toolu_04",
                    "name": "Glob",
                    "input": {"pattern": "tests/**/test_*.py"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_03", "content": _code(rng, 25)},
                {"type": "tool_result", "tool_use_id": "toolu_04", "content": _code(rng, 15)},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_05",
                    "name": "Edit",
                    "input": {
                        "file_path": "/home/dev/project/src/parser/tokenizer.py",
                        "old_string": _code(rng, 8),
                        "new_string": _code(rng, 11),
                    },
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_05",
                    "content": "The file /home/dev/project/src/parser/tokenizer.py has been "
                    "updated.\n" + _code(rng, 20),
                },
                {"type": "text", "text": reminder},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Fixed. Tracking the remaining steps."},
                {
                    "type": "tool_use",
                    "id": "toolu_06",
                    "name": "TodoWrite",
                    "input": {
                        "todos": [
                            {
                                "content": "Fix empty span loop",
                                "status": "completed",
                                "activeForm": "Fixing empty span loop",
                            },
                            {
                                "content": "Run the whole suite",
                                "status": "in_progress",
                                "activeForm": "Running the whole suite",
                            },
                        ]
                    },
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_06",
                    "content": "Todos have been modified successfully.",
                },
                {"type": "text", "text": "Good, now run everything.", "cache_control": ephemeral},
            ],
        },
    ]
    return {
        "model": MODEL,
        "max_tokens": 32000,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": ephemeral,
            },
            {"type": "text", "text": _paragraphs(rng, 12000), "cache_control": ephemeral},
        ],
        "messages": messages,
        "tools": claude_code_tools(rng),
        "metadata": {"user_id": "user_4f1c0de_account__session_9b2e-77aa"},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "temperature": 1,
        "stream": True,
    }


def long_claude_code_request(kb: int, seed: int = 7) -> dict[str, Any]:
    """A Claude Code request after a long session: :func:`claude_code_request`
    with tool-loop turns (thinking with a signature, a tool call, its output)
    appended before the last user turn until the JSON body is about ``kb`` KB."""
    rng = random.Random(seed)
    request = claude_code_request(seed)
    messages = request["messages"]
    last = messages.pop()
    size = len(json.dumps(request)) + len(json.dumps(last))
    turn = 100
    while size < kb * 1024:
        turn += 1
        call_id = f"toolu_{turn:03d}"
        pair = [
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": _prose(rng, 80), "signature": _signature(rng)},
                {"type": "text", "text": _prose(rng, 12)},
                {"type": "tool_use", "id": call_id, "name": "Read",
                 "input": {"file_path": f"/home/dev/project/src/module_{turn}.py"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": _code(rng, 60)},
            ]},
        ]
        messages += pair
        size += len(json.dumps(pair))
    messages.append(last)
    return request


# ------------------------------------------------------------------------ stream


def _fragments(rng: random.Random, text: str, lo: int, hi: int) -> list[str]:
    out, i = [], 0
    while i < len(text):
        step = rng.randint(lo, hi)
        out.append(text[i : i + step])
        i += step
    return out


# Each format's own opaque reasoning data, as its provider would send it.
def _reasoning_meta(fmt: str, rng: random.Random) -> Meta:
    sig = _signature(rng)
    return {
        "anthropic": {"anthropic": {"signature": sig}},
        "gemini": {"gemini": {"thoughtSignature": sig}},
        "openai-responses": {"openai-responses": {"id": "rs_bench1", "encrypted_content": sig}},
    }.get(fmt, {})


def stream_events(fmt: str, text_deltas: int, seed: int = 11) -> list[StreamEvent]:
    """Thinking (250 deltas), text (``text_deltas`` deltas of 1-4 words), a
    Bash and an Edit call with arguments cut in 3-12 character fragments,
    then a tool_use finish with usage."""
    # One generator per section, so the tool calls do not change with the
    # number of text deltas (provider_stream tunes that number).
    rng, text_rng, tool_rng = (random.Random(seed + i) for i in range(3))
    events: list[StreamEvent] = [
        StreamStart(id="msg_bench01", model=MODEL, usage=Usage(input_tokens=41_000), created=1),
        BlockStart(0, Reasoning()),
    ]
    events += [BlockDelta(0, " " + _prose(rng, rng.randint(1, 4))) for _ in range(250)]
    events.append(BlockEnd(0, _reasoning_meta(fmt, rng)))
    events.append(BlockStart(1, Text("")))
    events += [
        BlockDelta(1, " " + _prose(text_rng, text_rng.randint(1, 4))) for _ in range(text_deltas)
    ]
    events.append(BlockEnd(1))
    calls = [
        (
            "toolu_bench1",
            "Bash",
            {
                "command": "pytest -q tests/ --timeout 60 -p no:cacheprovider",
                "description": "Run the whole test suite",
            },
        ),
        (
            "toolu_bench2",
            "Edit",
            {
                "file_path": "/home/dev/project/src/parser/tokenizer.py",
                "old_string": _code(tool_rng, 12),
                "new_string": _code(tool_rng, 14),
            },
        ),
    ]
    for index, (call_id, name, args) in enumerate(calls, start=2):
        events.append(BlockStart(index, ToolCall(id=call_id, name=name)))
        events += [BlockDelta(index, f) for f in _fragments(tool_rng, json.dumps(args), 3, 12)]
        events.append(BlockEnd(index))
    events.append(
        Finish(
            "tool_use",
            Usage(
                input_tokens=41_000,
                output_tokens=2_400,
                cache_read_tokens=38_000,
                reasoning_tokens=600,
            ),
        )
    )
    return events


def encode(fmt: str, events: list[StreamEvent]) -> list[bytes]:
    """``events`` in ``fmt``'s own stream encoding, one SSE event per item."""
    encoder = get_format(fmt).stream_encoder(counting_env(), model=MODEL, input_tokens=41_000)
    raw = b"".join(encoder.feed(e) for e in events) + encoder.finish()
    stream = _SSE_EVENT.findall(raw)
    if b"".join(stream) != raw:
        raise ValueError(f"{fmt} stream does not split into SSE events")
    return stream


# One SSE event with its terminating blank line (Gemini ends lines with CRLF).
_SSE_EVENT = re.compile(rb".+?(?:\r\n\r\n|\n\n|\r\r)", re.S)


def provider_stream(fmt: str, n_events: int = 2000) -> list[bytes]:
    """A stream of exactly ``n_events`` SSE events (when the format allows)
    in ``fmt``: the number of text deltas is adjusted to the format's
    framing overhead."""
    text_deltas = max(1, n_events - 500)
    stream = encode(fmt, stream_events(fmt, text_deltas))
    for _ in range(4):
        if len(stream) == n_events:
            break
        text_deltas = max(1, text_deltas + n_events - len(stream))
        stream = encode(fmt, stream_events(fmt, text_deltas))
    return stream


# ------------------------------------------------- Codex- and Gemini CLI-shaped


def _with_reasoning(rng: random.Random, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses input items as Codex sends them with ``store: false``: a
    reasoning item (summary + encrypted_content) before each run of calls."""
    out: list[dict[str, Any]] = []
    previous = ""
    for n, item in enumerate(items):
        if item.get("type") == "function_call" and previous != "function_call":
            out.append({"type": "reasoning", "id": f"rs_{n:05d}",
                        "summary": [{"type": "summary_text", "text": _prose(rng, 40)}],
                        "encrypted_content": _signature(rng) * 3})
        out.append(item)
        previous = str(item.get("type", ""))
    return out


def _sized(build: Any, kb: int, seed: int) -> dict[str, Any]:
    """``build(kb_of_source, seed)`` scaled once so its JSON is about ``kb`` KB
    (within a few per cent: the shapes add or drop bytes per turn)."""
    body: dict[str, Any] = build(kb, seed)
    size = len(json.dumps(body)) / 1024
    if abs(size - kb) > kb * 0.03:
        body = build(max(int(kb * kb / size), 1), seed)
    return body


def long_codex_request(kb: int, seed: int = 7) -> dict[str, Any]:
    """An OpenAI Responses body shaped like Codex CLI's after a long session
    (``store: false``, so the whole history every turn): long instructions,
    function tools, message / reasoning (encrypted) / function_call /
    function_call_output items, about ``kb`` KB of JSON."""
    return _sized(_codex, kb, seed)


def _codex(kb: int, seed: int) -> dict[str, Any]:
    from omniroute_mitm.translators import translate_request

    rng = random.Random(seed + 1)
    source = long_claude_code_request(kb, seed)
    body = translate_request("anthropic", "openai-responses", source)
    body["input"] = _with_reasoning(rng, list(body.get("input", [])))
    body.update(
        model=MODEL, stream=True, store=False, parallel_tool_calls=True,
        instructions=_paragraphs(rng, 12_000),
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"], prompt_cache_key="bench-session-1",
        tool_choice="auto",
    )
    return body


def long_gemini_request(kb: int, seed: int = 7) -> dict[str, Any]:
    """A Gemini ``streamGenerateContent`` body shaped like Gemini CLI's after
    a long session: systemInstruction, functionDeclarations, contents with
    thought summaries, functionCall parts carrying a thoughtSignature and
    functionResponse parts, about ``kb`` KB of JSON."""
    return _sized(_gemini, kb, seed)


def _gemini(kb: int, seed: int) -> dict[str, Any]:
    from omniroute_mitm.translators import translate_request

    rng = random.Random(seed + 2)
    source = long_claude_code_request(kb, seed)
    body = translate_request("anthropic", "gemini", source)
    for content in body.get("contents", []):
        first_call = True
        for part in content.get("parts", []):
            if "functionCall" in part and first_call:
                part["thoughtSignature"] = _signature(rng)
                first_call = False
    body["generationConfig"] = {**body.get("generationConfig", {}),
                                "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1},
                                "temperature": 0, "topP": 1}
    body.pop("model", None)
    return body


def long_chat_request(kb: int, seed: int = 7) -> dict[str, Any]:
    """An OpenAI Chat Completions body shaped like an agent's on the openai
    SDK after a long session (aider, IDE assistants, DeepSeek's thinking mode
    in a tool loop): a system message, function tools, assistant messages
    with ``tool_calls`` and the ``reasoning_content`` DeepSeek wants back,
    ``tool`` results, about ``kb`` KB of JSON."""
    return _sized(_chat, kb, seed)


def _chat(kb: int, seed: int) -> dict[str, Any]:
    from omniroute_mitm.translators import translate_request

    rng = random.Random(seed + 3)
    source = long_claude_code_request(kb, seed)
    body = translate_request("anthropic", "openai-chat", source)
    for message in body.get("messages", []):
        if message.get("role") == "assistant" and message.get("tool_calls"):
            message["reasoning_content"] = _prose(rng, 80)
    body.pop("user", None)  # (Claude Code's session id)
    body.update(model="deepseek-reasoner", stream=True, parallel_tool_calls=True,
                tool_choice="auto", stream_options={"include_usage": True})
    return body


LONG_REQUESTS = {"claude": long_claude_code_request, "codex": long_codex_request,
                 "gemini": long_gemini_request, "chat": long_chat_request}
"""The long-session request of each client shape, by name (scripts/bench --client)."""
