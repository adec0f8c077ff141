"""Translation between the four wire formats of AI model APIs.

Hub and spoke: each format (``openai-chat``, ``openai-responses``,
``anthropic``, ``gemini``) converts to and from one canonical model
(:mod:`translators.canonical`). Pure: no I/O, no clocks (see ``Env``).
"""

from __future__ import annotations

from typing import Any

from .base import StreamDecoder, StreamEncoder, WireFormat
from .canonical import FORMAT_NAMES, Env, ErrorInfo, Request, Response, TranslationError
from .stream import Accumulator, StreamTranslator, estimate_tokens

__all__ = [
    "FORMAT_NAMES",
    "Accumulator",
    "Env",
    "ErrorInfo",
    "Request",
    "Response",
    "StreamDecoder",
    "StreamEncoder",
    "StreamTranslator",
    "TranslationError",
    "WireFormat",
    "estimate_tokens",
    "get_format",
    "translate_error",
    "translate_request",
    "translate_response",
]


def get_format(name: str) -> WireFormat:
    """The wire format called ``name``; a TranslationError names the choices."""
    from .registry import FORMATS

    try:
        return FORMATS[name]
    except KeyError:
        choices = ", ".join(FORMAT_NAMES)
        raise TranslationError("format", f"unknown format {name!r} (one of: {choices})") from None


def translate_request(
    source: str, target: str, body: dict[str, Any], env: Env | None = None, **parse: Any
) -> dict[str, Any]:
    """A request body in ``source`` format -> the same request in ``target``."""
    request = get_format(source).parse_request(body, **parse)
    return get_format(target).render_request(request, env or Env())


def translate_response(
    source: str, target: str, body: dict[str, Any], env: Env | None = None
) -> dict[str, Any]:
    """A complete (non-streamed) response body in ``source`` -> ``target``."""
    response = get_format(source).parse_response(body)
    return get_format(target).render_response(response, env or Env())


def translate_error(
    source: str, target: str, status: int, body: bytes
) -> tuple[int, dict[str, Any]]:
    """A provider error in ``source`` -> (status, body) in ``target``."""
    error: ErrorInfo = get_format(source).parse_error(status, body)
    return get_format(target).render_error(error)
