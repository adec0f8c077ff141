"""The Gemini generateContent wire format (``/v1beta/models/{model}:generateContent``
and ``:streamGenerateContent``, also ``/v1/...``): what Gemini CLI and the
google-genai SDKs speak. The model and streaming come from the URL, so
``parse_request`` receives them and ``render_request`` returns only the body.
"""

from __future__ import annotations

from typing import Any

from ..canonical import Env, ErrorInfo, FormatName, Request, Response
from .errors import parse_error, render_error
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import GeminiStreamDecoder
from .stream_encode import GeminiStreamEncoder


class GeminiFormat:
    name: FormatName = "gemini"
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

    def stream_decoder(self, env: Env) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(env)

    def stream_encoder(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> GeminiStreamEncoder:
        return GeminiStreamEncoder(env, model=model, input_tokens=input_tokens, sse=sse)


FORMAT = GeminiFormat()

__all__ = ["FORMAT", "GeminiFormat"]
