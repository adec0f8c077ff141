"""Anthropic Messages (``POST /v1/messages``) as one spoke of the hub.

Modules: ``request_parse``/``request_render`` (request bodies, with the
repairs Anthropic needs in ``turns``), ``response`` (non-streamed messages),
``decoder``/``encoder`` (the SSE stream), ``errors``. Decisions that trade
fidelity for validity are listed in ``request_render``'s docstring.
"""

from __future__ import annotations

from typing import Any

from ..base import StreamDecoder, StreamEncoder
from ..canonical import Env, ErrorInfo, FormatName, Request, Response
from .decoder import AnthropicStreamDecoder
from .encoder import AnthropicStreamEncoder
from .errors import parse_error, render_error
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response

__all__ = ["FORMAT", "AnthropicFormat", "AnthropicStreamDecoder", "AnthropicStreamEncoder"]


class AnthropicFormat:
    name: FormatName = "anthropic"
    media_type = "text/event-stream"

    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> Request:
        return parse_request(body, model=model, stream=stream)

    def render_request(self, request: Request, env: Env) -> dict[str, Any]:
        return render_request(request, env)

    def parse_response(self, body: dict[str, Any]) -> Response:
        return parse_response(body)

    def render_response(self, response: Response, env: Env) -> dict[str, Any]:
        return render_response(response, env)

    def parse_error(self, status: int, body: bytes) -> ErrorInfo:
        return parse_error(status, body)

    def render_error(self, error: ErrorInfo) -> tuple[int, dict[str, Any]]:
        return render_error(error)

    def stream_decoder(self, env: Env) -> StreamDecoder:
        return AnthropicStreamDecoder(env)

    def stream_encoder(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> StreamEncoder:
        # Anthropic streams are always SSE; ``sse`` only matters to Gemini.
        return AnthropicStreamEncoder(env, model=model, input_tokens=input_tokens)


FORMAT = AnthropicFormat()
