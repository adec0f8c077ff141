"""What the front answers itself, in the client's own format: a request it
refuses before the engine sees it, or the end of an answer the engine could
not finish (see :mod:`.engine_loss`)."""

from __future__ import annotations

import json

from mitmproxy import http
from omniroute_mitm.engine.core.calls import Call
from omniroute_mitm.translators import Env, ErrorInfo, StreamTranslator, get_format
from omniroute_mitm.translators.canonical import kind_for_status


def error_info(status: int, message: str) -> ErrorInfo:
    return ErrorInfo(status, kind_for_status(status), message)


def client_error(call: Call, status: int, message: str) -> http.Response:
    """A whole error response as the client's own API would send it."""
    status, body = get_format(call.format).render_error(error_info(status, message))
    data = json.dumps(body, separators=(",", ":")).encode()
    return http.Response.make(status, data, {"content-type": "application/json"})


def stream_error(
    fmt: str, sse: bool, status: int, message: str, *, opened: bool, model: str = ""
) -> bytes:
    """The client format's in-stream error event, to end a stream already
    under way (``opened``: some of its bytes were sent)."""
    client = get_format(fmt)
    translator = StreamTranslator(client, client, Env(), model=model, sse=sse)
    tail = translator.fail(error_info(status, message))
    if fmt == "gemini" and not sse and opened and tail.startswith(b"["):
        tail = b",\r\n" + tail[1:]  # a JSON array the stream already opened
    return tail
