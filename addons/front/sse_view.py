"""A mitmproxy content view for model streams of the four formats.

It lists the events one a line (``event  {json}``, long ones cut), then what
they add up to: the text, the reasoning, each tool call with its arguments,
the stop reason and the usage. Registered by the omniroute addon; mitmweb
and mitmproxy pick it by priority for ``text/event-stream`` bodies, and for
Gemini's ``streamGenerateContent`` without ``alt=sse``, whose body is one
JSON array of GenerateContentResponse chunks (each chunk is an event).
The format comes from the endpoint the flow called, through the front's
endpoint catalog (the shipped vendors and config.yaml's ``endpoints:``), else
from the events themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mitmproxy import contentviews, http
from omniroute_mitm.engine.core import endpoints
from omniroute_mitm.engine.core.calls import classify
from omniroute_mitm.engine.core.prices import tokens_of
from omniroute_mitm.translators import Env, TranslationError, get_format
from omniroute_mitm.translators.canonical import Reasoning, Refusal, Text, ToolCall
from omniroute_mitm.translators.gemini.framing import JsonObjectSplitter
from omniroute_mitm.translators.sse import SSEDecoder
from omniroute_mitm.translators.stream import Accumulator

EVENT_WIDTH = 160
SNIFF = (  # (format, a marker in its events), checked in order
    ("openai-responses", '"response.'),
    ("anthropic", '"message_start"'),
    ("openai-chat", '"chat.completion.chunk"'),
    ("gemini", '"candidates"'),
)


class ModelStreamView(contentviews.Contentview):
    name = "Model stream"

    def __init__(
        self, catalog: Callable[[], endpoints.Catalog] = lambda: endpoints.DEFAULT
    ) -> None:
        self.catalog = catalog
        """The front's catalog as it is now (config.yaml may add hosts)."""

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        if (metadata.content_type or "").startswith("text/event-stream"):
            return 2  # above the raw and text views
        if json_stream(data, metadata):
            return 2  # above the JSON view (1)
        return -1

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        text = data.decode("utf-8", "replace")
        if json_stream(data, metadata):
            fmt: str | None = "gemini"
            found = chunks(data)
            lines = [f"{len(found)} events (gemini, JSON array)"]
        else:
            fmt = _format(metadata, self.catalog()) or sniff(text)
            found = events(text)
            lines = [f"{len(found)} events" + (f" ({fmt})" if fmt else "")]
        lines += [_event_line(name, payload) for name, payload in found]
        if fmt is not None:
            lines += ["", "--- assembled ---", *assembled(fmt, data)]
        return "\n".join(lines) + "\n"


def events(text: str) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    found = decoder.feed(text.encode()) + decoder.finish()
    return [(e.event or "message", e.data) for e in found]


def json_stream(data: bytes, metadata: contentviews.Metadata) -> bool:
    """Gemini's streamGenerateContent without alt=sse: a JSON array of chunks."""
    if not (metadata.content_type or "").startswith("application/json"):
        return False
    if not data.lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"["):
        return False
    flow = metadata.flow
    if isinstance(flow, http.HTTPFlow) and ":streamGenerateContent" in flow.request.path:
        return True
    return b'"candidates"' in data[:4000]


def chunks(data: bytes) -> list[tuple[str, str]]:
    """The array's elements, compact (those cut off by a truncated body are left out)."""
    found = []
    for raw in JsonObjectSplitter().feed(data):
        try:
            text = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            text = " ".join(raw.decode("utf-8", "replace").split())
        found.append(("chunk", text))
    return found


def sniff(text: str) -> str | None:
    head = text[:4000]
    return next((fmt for fmt, marker in SNIFF if marker in head), None)


def assembled(fmt: str, data: bytes) -> list[str]:
    """The stream decoded by the project's translator into one answer."""
    try:
        decoder = get_format(fmt).stream_decoder(Env())
        acc = Accumulator()
        acc.feed_all(decoder.feed(data) + decoder.finish())
    except TranslationError as exc:
        return [f"(cannot assemble: {exc})"]
    resp = acc.response
    out: list[str] = []
    for part in resp.parts:
        out += _part(part)
    out.append(f"stop: {resp.stop_reason}")
    if resp.usage is not None:  # in the usage store's meaning (classes do not overlap)
        t = tokens_of(resp.usage)
        hour = f" ({t.cache_write_1h} 1h)" if t.cache_write_1h else ""
        out.append(
            f"usage: {t.input} in + {t.cache_read} cache read + {t.cache_write} cache write"
            f"{hour} / {t.output} out ({t.reasoning} reasoning)"
        )
    if acc.error is not None:
        out.append(f"error: {acc.error.status} {acc.error.kind}: {acc.error.message}")
    return out


def _part(part: Any) -> list[str]:
    if isinstance(part, Reasoning):
        return ["[reasoning]", part.text or "(no text: redacted or encrypted)"]
    if isinstance(part, Text):
        return ["[text]", part.text]
    if isinstance(part, Refusal):
        return ["[refusal]", part.text]
    if isinstance(part, ToolCall):
        return [f"[tool call] {part.name} ({part.id})", _pretty(part.arguments)]
    return [f"[{type(part).__name__.lower()}]"]


def _pretty(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments


def _event_line(name: str, payload: str) -> str:
    line = f"{name:<28} {payload.strip()}"
    return line if len(line) <= EVENT_WIDTH else line[: EVENT_WIDTH - 1] + "…"


def _format(metadata: contentviews.Metadata, catalog: endpoints.Catalog) -> str | None:
    """The client's format, from the endpoint the flow called."""
    flow = metadata.flow
    if not isinstance(flow, http.HTTPFlow):
        return None
    req = flow.request
    call = classify(req.method, req.path, req.pretty_host, req.headers, catalog)
    return call.format if call is not None else None
