"""OpenAI Responses (``POST /v1/responses``), the wire format Codex CLI speaks.

``FORMAT`` implements :class:`translators.base.WireFormat`. Modules: request
parsing (``request_parse``, ``options``, ``content``) and rendering
(``request_render``, ``options_render``), responses (``response``), streams
(``stream_decode``, ``stream_encode``) and errors (``translators.openai_errors``,
shared with Chat).
"""

from __future__ import annotations

from ..base import Spoke
from ..openai_errors import parse_error
from ..openai_errors import render_responses_error as render_error
from .common import NAME
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import ResponsesStreamDecoder
from .stream_encode import ResponsesStreamEncoder

__all__ = ["FORMAT", "ResponsesStreamDecoder", "ResponsesStreamEncoder"]

FORMAT = Spoke(
    name=NAME,
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=ResponsesStreamDecoder,
    encoder=ResponsesStreamEncoder,
)
