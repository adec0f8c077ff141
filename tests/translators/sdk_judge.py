"""The official SDKs as judges of wire validity.

Each judge hands bytes to an SDK exactly as if a server had sent them (through
``httpx.MockTransport``, so nothing touches the network) and reduces what the
SDK accumulated to a :class:`Summary` that can be compared across formats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
from google import genai
from google.genai import types as gtypes

# Stop reasons grouped by what every format can say.
STOP_CLASS = {
    "stop": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "end_turn": "stop",
    "completed": "stop",
    "STOP": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "max_output_tokens": "length",
    "tool_use": "tool_use",
    "tool_calls": "tool_use",
    "content_filter": "filtered",
    "refusal": "filtered",
    "SAFETY": "filtered",
    "RECITATION": "filtered",
    "PROHIBITED_CONTENT": "filtered",
    "BLOCKLIST": "filtered",
    "SPII": "filtered",
}

# Usage fields each format can express (canonical names).
USAGE_FIELDS = {
    "anthropic": {"input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"},
    "openai-chat": {"input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"},
    "openai-responses": {"input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"},
    "gemini": {"input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"},
}


@dataclass
class Summary:
    text: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    stop: str | None = None
    usage: dict[str, int] | None = None
    reasoning: str = ""

    def comparable(self, *formats: str) -> Summary:
        """This summary limited to what every one of ``formats`` can say."""
        usage = None
        if self.usage is not None:
            fields = set.intersection(*(USAGE_FIELDS[f] for f in formats))
            usage = {k: v for k, v in self.usage.items() if k in fields}
        return Summary(self.text, self.tool_calls, self.stop, usage, self.reasoning)


def _stop(value: str | None) -> str | None:
    return None if value is None else STOP_CLASS.get(value, value)


def _mock(content: bytes, status: int = 200, stream: bool = True) -> httpx.Client:
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": ctype}, content=content)

    return httpx.Client(transport=httpx.MockTransport(handler))


# ----------------------------------------------------------------------- anthropic


def _anthropic_client(content: bytes, stream: bool) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://127.0.0.1:9",
        http_client=_mock(content, stream=stream),
        max_retries=0,
    )


def _anthropic_summary(msg: anthropic.types.Message) -> Summary:
    text = "".join(b.text for b in msg.content if b.type == "text")
    reasoning = "".join(b.thinking for b in msg.content if b.type == "thinking")
    calls = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
    u = msg.usage
    cache_read = u.cache_read_input_tokens or 0
    cache_write = u.cache_creation_input_tokens or 0
    usage = {
        "input_tokens": u.input_tokens + cache_read + cache_write,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": cache_read,
        "cache_creation_tokens": cache_write,
    }
    return Summary(text, calls, _stop(msg.stop_reason), usage, reasoning)


def anthropic_response(body: dict[str, Any]) -> Summary:
    return _anthropic_summary(anthropic.types.Message.model_validate(body))


def anthropic_stream(content: bytes) -> Summary:
    client = _anthropic_client(content, stream=True)
    with client.messages.stream(
        model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return _anthropic_summary(stream.get_final_message())


# --------------------------------------------------------------------- openai chat


def _openai_client(content: bytes, stream: bool) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        http_client=_mock(content, stream=stream),
        max_retries=0,
    )


def _chat_summary(completion: Any) -> Summary:
    choice = completion.choices[0]
    message = choice.message
    text = (message.content or "") + (message.refusal or "")
    calls = [
        (c.function.name, json.loads(c.function.arguments or "{}"))
        for c in (message.tool_calls or [])
    ]
    reasoning = getattr(message, "reasoning_content", None) or ""
    if not reasoning and message.model_extra:
        reasoning = message.model_extra.get("reasoning_content") or ""
    usage = None
    if completion.usage is not None:
        u = completion.usage
        usage = {
            "input_tokens": u.prompt_tokens,
            "output_tokens": u.completion_tokens,
            "cache_read_tokens": (u.prompt_tokens_details.cached_tokens or 0)
            if u.prompt_tokens_details
            else 0,
            "reasoning_tokens": (u.completion_tokens_details.reasoning_tokens or 0)
            if u.completion_tokens_details
            else 0,
        }
    return Summary(text, calls, _stop(choice.finish_reason), usage, reasoning)


def chat_response(body: dict[str, Any]) -> Summary:
    return _chat_summary(openai.types.chat.ChatCompletion.model_validate(body))


def chat_stream(content: bytes) -> Summary:
    client = _openai_client(content, stream=True)
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        for _ in stream:
            pass
        return _chat_summary(stream.get_final_completion())


# ---------------------------------------------------------------- openai responses


def _responses_summary(resp: Any) -> Summary:
    text, reasoning, calls = "", "", []
    for item in resp.output:
        if item.type == "message":
            for part in item.content:
                text += part.text if part.type == "output_text" else part.refusal
        elif item.type == "function_call":
            calls.append((item.name, json.loads(item.arguments or "{}")))
        elif item.type == "custom_tool_call":
            calls.append((item.name, item.input))
        elif item.type == "reasoning":
            reasoning += "".join(s.text for s in item.summary)
    stop = "stop"
    if resp.status == "incomplete" and resp.incomplete_details is not None:
        stop = resp.incomplete_details.reason or "incomplete"
    elif calls:
        stop = "tool_use"
    elif any(p.type == "refusal" for i in resp.output if i.type == "message" for p in i.content):
        stop = "refusal"
    usage = None
    if resp.usage is not None:
        u = resp.usage
        usage = {
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_tokens": u.input_tokens_details.cached_tokens or 0,
            "reasoning_tokens": u.output_tokens_details.reasoning_tokens or 0,
        }
    return Summary(text, calls, _stop(stop), usage, reasoning)


def responses_response(body: dict[str, Any]) -> Summary:
    return _responses_summary(openai.types.responses.Response.model_validate(body))


def responses_stream(content: bytes) -> Summary:
    client = _openai_client(content, stream=True)
    with client.responses.stream(model="m", input="hi") as stream:
        for _ in stream:
            pass
        return _responses_summary(stream.get_final_response())


# -------------------------------------------------------------------------- gemini


def _gemini_client(content: bytes, stream: bool) -> genai.Client:
    options = gtypes.HttpOptions(
        base_url="http://127.0.0.1:9", httpx_client=_mock(content, stream=stream)
    )
    return genai.Client(api_key="test-key", http_options=options)


def _gemini_summary(chunks: list[gtypes.GenerateContentResponse]) -> Summary:
    text, reasoning, calls, stop, usage = "", "", [], None, None
    for chunk in chunks:
        for cand in chunk.candidates or []:
            for part in (cand.content.parts if cand.content else None) or []:
                if part.thought:
                    reasoning += part.text or ""
                elif part.text:
                    text += part.text
                if part.function_call:
                    calls.append((part.function_call.name, part.function_call.args or {}))
            if cand.finish_reason:
                stop = cand.finish_reason.value
        if chunk.usage_metadata is not None:
            u = chunk.usage_metadata
            usage = {
                "input_tokens": u.prompt_token_count or 0,
                "output_tokens": (u.candidates_token_count or 0) + (u.thoughts_token_count or 0),
                "cache_read_tokens": u.cached_content_token_count or 0,
                "reasoning_tokens": u.thoughts_token_count or 0,
            }
    if stop == "STOP" and calls:
        stop = "tool_use"
    return Summary(text, calls, _stop(stop), usage, reasoning)


def gemini_response(body: dict[str, Any]) -> Summary:
    return _gemini_summary([gtypes.GenerateContentResponse.model_validate(body)])


def gemini_stream(content: bytes) -> Summary:
    client = _gemini_client(content, stream=True)
    chunks = list(client.models.generate_content_stream(model="m", contents="hi"))
    return _gemini_summary(chunks)


RESPONSE_JUDGES = {
    "anthropic": anthropic_response,
    "openai-chat": chat_response,
    "openai-responses": responses_response,
    "gemini": gemini_response,
}
STREAM_JUDGES = {
    "anthropic": anthropic_stream,
    "openai-chat": chat_stream,
    "openai-responses": responses_stream,
    "gemini": gemini_stream,
}
