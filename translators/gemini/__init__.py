"""The Gemini generateContent wire format (``/v1beta/models/{model}:generateContent``
and ``:streamGenerateContent``, also ``/v1/...``): what Gemini CLI and the
google-genai SDKs speak. The model and streaming come from the URL, so
``parse_request`` receives them and ``render_request`` returns only the body.
"""

from __future__ import annotations

from ..base import Spoke
from .errors import parse_error, render_error
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import GeminiStreamDecoder
from .stream_encode import GeminiStreamEncoder

__all__ = ["FORMAT", "GeminiStreamDecoder", "GeminiStreamEncoder"]

FORMAT = Spoke(
    name="gemini",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=GeminiStreamDecoder,
    encoder=GeminiStreamEncoder,
)
