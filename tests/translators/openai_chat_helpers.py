"""Helpers for the openai-chat tests: the openai SDK as judge, split feeding."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import streamkit
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    Finish,
    Request,
    StreamError,
    StreamEvent,
    StreamStart,
    counting_env,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai.lib.streaming.chat import ChatCompletionStreamState
from streamkit import accumulate as accumulate
from streamkit import pieces as pieces

PNG = "iVBORw0KGgo="


def parse(**body: Any) -> Request:
    """A chat request body with a model and one user message unless given."""
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return FORMAT.parse_request(body)


def render(request: Request) -> dict[str, Any]:
    return FORMAT.render_request(request, counting_env())


def sdk_client(
    body: bytes, content_type: str = "text/event-stream", status: int = 200
) -> openai.OpenAI:
    """An OpenAI client whose server answers every request with ``body``."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return openai.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_retries=0,
    )


def sdk_final_completion(body: bytes) -> Any:
    """Run ``body`` through the SDK's raw stream and its accumulator
    (``ChatCompletionStreamState``) and return what it assembled. The SDK's
    final parse raises on every ``length`` / ``content_filter`` finish (a
    parse helper's rule, not a wire problem): then its snapshot is the answer."""
    client = sdk_client(body)
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    stream = client.chat.completions.create(
        model="client-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for chunk in stream:
        state.handle_chunk(chunk)
    try:
        return state.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
        return state.current_completion_snapshot


def encode(
    events: Iterable[StreamEvent], env: Env | None = None, model: str = "client-model"
) -> bytes:
    return streamkit.encode(FORMAT, events, env, model=model)


def decode(chunks: Iterable[bytes], env: Env | None = None) -> list[StreamEvent]:
    return streamkit.decode(FORMAT, chunks, env)


def assert_well_formed(events: list[StreamEvent]) -> None:
    """StreamStart first; blocks with increasing indexes, one open at a time;
    exactly one terminal event (Finish or StreamError) at the end."""
    assert isinstance(events[0], StreamStart | StreamError)
    open_index: int | None = None
    next_index = 0
    for event in events[:-1]:
        assert not isinstance(event, Finish | StreamError)
        if isinstance(event, BlockStart):
            assert open_index is None and event.index == next_index
            open_index, next_index = event.index, next_index + 1
        elif isinstance(event, BlockDelta):
            assert event.index == open_index
        elif isinstance(event, BlockEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None
    assert isinstance(events[-1], Finish | StreamError)


def sse(*chunks: Any, done: bool = True) -> bytes:
    body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": choices,
        **extra,
    }
