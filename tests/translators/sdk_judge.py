"""The official SDKs as judges of wire validity.

Each judge hands bytes to an SDK exactly as if a server had sent them (through
``httpx.MockTransport``, so nothing touches the network) and reduces what the
SDK accumulated to a :class:`Summary` that can be compared across formats.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import httpx2
import openai
from google import genai
from google.genai import errors as gerrors
from google.genai import types as gtypes
from openai.lib.streaming.chat import ChatCompletionStreamState

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
    error: str | None = None
    """The message of the error the SDK raised while reading, if any."""

    def comparable(self, *formats: str) -> Summary:
        """This summary limited to what every one of ``formats`` can say."""
        usage = None
        if self.usage is not None:
            fields = set.intersection(*(USAGE_FIELDS[f] for f in formats))
            usage = {k: v for k, v in self.usage.items() if k in fields}
        return Summary(self.text, self.tool_calls, self.stop, usage, self.reasoning, self.error)


def _stop(value: str | None) -> str | None:
    return None if value is None else STOP_CLASS.get(value, value)


def _mock(content: bytes, status: int = 200, stream: bool = True) -> httpx.Client:
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": ctype}, content=content)

    return httpx.Client(transport=httpx.MockTransport(handler))


def _mock2(content: bytes, status: int = 200, stream: bool = True) -> httpx2.Client:
    """The same for SDKs built on httpx2 (anthropic 2.x refuses httpx objects)."""
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": ctype}, content=content)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


# ----------------------------------------------------------------------- anthropic


def _anthropic_client(content: bytes, stream: bool) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://127.0.0.1:9",
        http_client=_mock2(content, stream=stream),
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


def anthropic_response(body: dict[str, Any], strict: bool = True) -> Summary:
    if strict:
        return _anthropic_summary(anthropic.types.Message.model_validate(body))
    client = _anthropic_client(json.dumps(body).encode(), stream=False)
    return _anthropic_summary(
        client.messages.create(
            model="m", max_tokens=16, messages=[{"role": "user", "content": "x"}]
        )
    )


def anthropic_stream(content: bytes) -> Summary:
    client = _anthropic_client(content, stream=True)
    try:
        with client.messages.stream(
            model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            return _anthropic_summary(stream.get_final_message())
    except anthropic.APIError as exc:
        return Summary(error=exc.message)


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
    stop = _stop(choice.finish_reason)
    if message.refusal and stop == "stop":
        stop = "filtered"  # a structured-output refusal ends with "stop"
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
    return Summary(text, calls, stop, usage, reasoning)


def chat_response(body: dict[str, Any], strict: bool = True) -> Summary:
    if strict:
        return _chat_summary(openai.types.chat.ChatCompletion.model_validate(body))
    client = _openai_client(json.dumps(body).encode(), stream=False)
    return _chat_summary(
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    )


def chat_stream(content: bytes) -> Summary:
    # The SDK's own accumulator, without the parse step that refuses "length".
    client = _openai_client(content, stream=True)
    state = ChatCompletionStreamState()
    chunks = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    try:
        for chunk in chunks:
            state.handle_chunk(chunk)
    except openai.APIError as exc:
        return Summary(error=exc.message)
    return _chat_summary(state.current_completion_snapshot)


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


def responses_response(body: dict[str, Any], strict: bool = True) -> Summary:
    if strict:
        return _responses_summary(openai.types.responses.Response.model_validate(body))
    client = _openai_client(json.dumps(body).encode(), stream=False)
    return _responses_summary(client.responses.create(model="m", input="x"))


TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def responses_stream(content: bytes) -> Summary:
    """The SDK's typed events; the accumulator when the stream completed
    (it refuses ``response.incomplete``), else the terminal event's response."""
    client = _openai_client(content, stream=True)
    final = None
    with warnings.catch_warnings(), client.responses.stream(model="m", input="hi") as stream:
        # The SDK's own snapshot of built-in tool items trips pydantic's serializer.
        warnings.filterwarnings("ignore", "Pydantic serializer warnings", UserWarning)
        try:
            for event in stream:
                if event.type in TERMINAL:
                    final = event.response
        except openai.APIError as exc:
            return Summary(error=exc.message)
        if final is not None and final.status == "completed":
            final = stream.get_final_response()
    assert final is not None, "stream ended without a terminal event"
    return _responses_summary(final)


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
                    _gemini_call(calls, part.function_call)
            if cand.finish_reason:
                stop = cand.finish_reason.value
        if chunk.usage_metadata is not None:
            u = chunk.usage_metadata
            usage = {  # grounding's search results are billed input, outside prompt_token_count
                "input_tokens": (u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0),
                "output_tokens": (u.candidates_token_count or 0) + (u.thoughts_token_count or 0),
                "cache_read_tokens": u.cached_content_token_count or 0,
                "reasoning_tokens": u.thoughts_token_count or 0,
            }
    if stop == "STOP" and calls:
        stop = "tool_use"
    return Summary(text, calls, _stop(stop), usage, reasoning)


def _gemini_call(calls: list[tuple[str, Any]], call: gtypes.FunctionCall) -> None:
    """Vertex streams a call's arguments as ``partialArgs`` fragments."""
    if call.name:
        calls.append((call.name, dict(call.args or {})))
    for fragment in call.partial_args or []:
        key = (fragment.json_path or "$.").removeprefix("$.")
        args = calls[-1][1]
        args[key] = args.get(key, "") + (fragment.string_value or "")


def gemini_response(body: dict[str, Any], strict: bool = True) -> Summary:
    if strict:
        return _gemini_summary([gtypes.GenerateContentResponse.model_validate(body)])
    client = _gemini_client(json.dumps(body).encode(), stream=False)
    return _gemini_summary([client.models.generate_content(model="m", contents="x")])


def gemini_stream(content: bytes) -> Summary:
    client = _gemini_client(content, stream=True)
    chunks = []
    try:
        for chunk in client.models.generate_content_stream(model="m", contents="hi"):
            chunks.append(chunk)
    except gerrors.APIError as exc:
        return Summary(error=exc.message or str(exc))
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
