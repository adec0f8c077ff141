"""Helpers for the openai-responses tests: the openai SDK as judge (fed through
``httpx.MockTransport``, never the network), split feeding, canonical streams."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import streamkit
from omniroute_mitm.translators.canonical import Env, StreamEvent
from omniroute_mitm.translators.openai_responses import FORMAT
from omniroute_mitm.translators.sse import SSEDecoder
from streamkit import accumulate as accumulate
from streamkit import pieces as pieces


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


def sdk_stream(body: bytes) -> tuple[list[Any], Any]:
    """Run ``body`` through ``client.responses.stream`` (the SDK's
    ``ResponseStreamState`` accumulator, strict about order and item ids):
    the events it produced (with snapshots) and the final response."""
    with sdk_client(body).responses.stream(model="client-model", input="hi") as stream:
        events = list(stream)
        return events, stream.get_final_response()


def sdk_final_response(body: bytes) -> Any:
    return sdk_stream(body)[1]


def sdk_events(body: bytes) -> list[Any]:
    """The typed events ``client.responses.create(stream=True)`` yields."""
    return list(sdk_client(body).responses.create(model="client-model", input="hi", stream=True))


def summary(resp: Any) -> dict[str, Any]:
    """What a user sees in an SDK Response object."""
    calls = []
    reasoning = ""
    for item in resp.output:
        if item.type == "function_call":
            calls.append((item.call_id, item.name, json.loads(item.arguments or "{}")))
        elif item.type == "custom_tool_call":
            calls.append((item.call_id, item.name, item.input))
        elif item.type == "reasoning":
            reasoning += "".join(s.text for s in item.summary)
    usage = resp.usage
    return {
        "text": resp.output_text,
        "calls": calls,
        "reasoning": reasoning,
        "status": resp.status,
        "usage": None
        if usage is None
        else (
            usage.input_tokens,
            usage.output_tokens,
            usage.input_tokens_details.cached_tokens,
            usage.output_tokens_details.reasoning_tokens,
        ),
    }


def encode(
    events: Iterable[StreamEvent], env: Env | None = None, model: str = "client-model"
) -> bytes:
    return streamkit.encode(FORMAT, events, env, model=model)


def decode(chunks: Iterable[bytes], env: Env | None = None) -> list[StreamEvent]:
    return streamkit.decode(FORMAT, chunks, env)


def wire_events(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(SSE event name, parsed JSON) of every event in ``data``."""
    decoder = SSEDecoder()
    return [(e.event, json.loads(e.data)) for e in decoder.feed(data) + decoder.finish()]


def sse_stream(*events: dict[str, Any]) -> bytes:
    """A Responses stream made of ``events`` (each a dict with "type")."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
