"""Anthropic Messages (``POST /v1/messages``) as one spoke of the hub.

Modules: ``request_parse``/``request_render`` (request bodies, with the
repairs Anthropic needs in ``turns``), ``response`` (non-streamed messages),
``stream_decode``/``stream_encode`` (the SSE stream), ``errors``. Decisions that trade
fidelity for validity are listed in ``request_render``'s docstring.
"""

from __future__ import annotations

from ..base import Spoke
from .errors import parse_error, render_error
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import AnthropicStreamDecoder
from .stream_encode import AnthropicStreamEncoder

__all__ = ["FORMAT", "AnthropicStreamDecoder", "AnthropicStreamEncoder"]

FORMAT = Spoke(
    name="anthropic",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=AnthropicStreamDecoder,
    encoder=AnthropicStreamEncoder,
)
