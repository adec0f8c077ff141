"""OpenAI Responses (``POST /v1/responses``), the wire format Codex CLI speaks.

``FORMAT`` implements :class:`translators.base.WireFormat`. Modules: request
parsing (``request_parse``, ``options``, ``content``) and rendering
(``request_render``, ``options_render``), responses (``response``), streams
(``stream_decode``, ``stream_encode``) and errors (``errors``).
"""

from __future__ import annotations

from typing import Any

from ..base import StreamDecoder, StreamEncoder
from ..canonical import Env, ErrorInfo, FormatName, Request, Response
from .common import NAME
from .errors import parse_error, render_error
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import ResponsesStreamDecoder
from .stream_encode import ResponsesStreamEncoder

__all__ = ["FORMAT", "ResponsesFormat", "ResponsesStreamDecoder", "ResponsesStreamEncoder"]


class ResponsesFormat:
    name: FormatName = NAME
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
        return ResponsesStreamDecoder(env)

    def stream_encoder(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> StreamEncoder:
        # Responses announces usage only at the end: no input estimate needed.
        return ResponsesStreamEncoder(env, model=model)


FORMAT = ResponsesFormat()
