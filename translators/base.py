"""The surface every wire format implements (one spoke of hub and spoke)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .canonical import Env, ErrorInfo, FormatName, Request, Response, StreamEvent


class StreamDecoder(Protocol):
    """Provider stream bytes -> canonical events. Fed bytes split anywhere."""

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def finish(self) -> list[StreamEvent]:
        """End of input. Closes open blocks; if the provider never finished
        the stream, returns a ``StreamError`` (a cut stream is an error)."""
        ...


class StreamEncoder(Protocol):
    """Canonical events -> the client's stream bytes."""

    def feed(self, event: StreamEvent) -> bytes: ...

    def finish(self) -> bytes:
        """Trailer bytes after the last event (``data: [DONE]`` for chat)."""
        ...

    def ping(self) -> bytes:
        """A keep-alive the client ignores, in its own format."""
        ...


class WireFormat(Protocol):
    @property
    def name(self) -> FormatName: ...

    @property
    def media_type(self) -> str:
        """Content type of this format's streams."""
        ...

    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> Request:
        """Client body -> canonical. Gemini carries model and streaming in the
        URL, so the caller passes them; other formats read the body."""
        ...

    def render_request(self, request: Request, env: Env) -> dict[str, Any]: ...

    def parse_response(self, body: dict[str, Any]) -> Response: ...

    def render_response(self, response: Response, env: Env) -> dict[str, Any]: ...

    def parse_error(self, status: int, body: bytes) -> ErrorInfo:
        """A provider's error body (any bytes, maybe not JSON) -> ErrorInfo."""
        ...

    def render_error(self, error: ErrorInfo) -> tuple[int, dict[str, Any]]:
        """ErrorInfo -> (HTTP status, body) in this format's error shape."""
        ...

    def stream_decoder(self, env: Env) -> StreamDecoder: ...

    def stream_encoder(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> StreamEncoder:
        """``model`` is the name the client asked for (echoed back to it);
        ``input_tokens`` is an estimate for formats that must announce input
        usage before the provider reports it; ``sse=False`` is Gemini's
        JSON-array streaming (``streamGenerateContent`` without ``alt=sse``)."""
        ...


@dataclass(frozen=True, slots=True)
class Spoke:
    """A wire format assembled from its modules' functions (every format is
    one of these; ``WireFormat`` is the surface the rest of the code sees)."""

    name: FormatName
    parse_request: Callable[..., Request]
    render_request: Callable[[Request, Env], dict[str, Any]]
    parse_response: Callable[[dict[str, Any]], Response]
    render_response: Callable[[Response, Env], dict[str, Any]]
    parse_error: Callable[[int, bytes], ErrorInfo]
    render_error: Callable[[ErrorInfo], tuple[int, dict[str, Any]]]
    decoder: Callable[[Env], StreamDecoder]
    encoder: Callable[..., StreamEncoder]
    """The encoder class: every one is built as
    ``(env, *, model, input_tokens=None, sse=True)`` (a format ignores what
    it has no use for: only Gemini streams without SSE, only Anthropic and
    Gemini announce input usage early)."""
    media_type: str = "text/event-stream"

    def stream_decoder(self, env: Env) -> StreamDecoder:
        return self.decoder(env)

    def stream_encoder(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> StreamEncoder:
        return self.encoder(env, model=model, input_tokens=input_tokens, sse=sse)
