"""OpenAI Chat Completions (``POST /v1/chat/completions``), the format that
DeepSeek, Groq, OpenRouter, Ollama and vLLM speak too."""

from __future__ import annotations

from ..base import Spoke
from ..openai_errors import parse_error, render_error
from .common import NAME
from .request_parse import parse_request
from .request_render import render_request
from .response import parse_response, render_response
from .stream_decode import ChatStreamDecoder
from .stream_encode import ChatStreamEncoder

__all__ = ["FORMAT", "ChatStreamDecoder", "ChatStreamEncoder"]

FORMAT = Spoke(
    name=NAME,
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    parse_error=parse_error,
    render_error=render_error,
    decoder=ChatStreamDecoder,
    encoder=ChatStreamEncoder,
)
