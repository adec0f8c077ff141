"""When the connection to the engine fails under a routed call.

mitmproxy answers a failed server connection itself: its HTML 502 before a
response, a cut connection after one. For a routed call the front answers in
the client's format instead. :func:`install` wraps mitmproxy's
``HttpStream.handle_protocol_error`` (the one place a failed server side of a
flow ends up); for a flow the front routed it first runs the hook
:class:`EngineLostHook` (the addon's ``omniroute_engine_lost``, async: it may
wait for the engine's restart), which leaves its verdict on the flow:

- ``retry``: the connection to the engine could not be made (it died and the
  front had not noticed yet), or the engine died with no response head and
  had not begun routing the call (the front knows: see its
  ``_send_again``); the flow now points at the restarted engine and is sent
  there once, as if nothing had happened (a request body read whole only);
- ``answer``: no response yet; the flow's response (an error in the client's
  format) is sent;
- ``end``: a stream under way; the bytes in ``omniroute_tail`` (the client
  format's error event) end it, then the body ends cleanly;
- nothing: mitmproxy's own handling (an engine that is alive and closed the
  connection itself, e.g. a native body that broke: the client must see a cut).

Only mitmproxy's HTTP layer of 12.x is known; with another one, :func:`install`
does nothing and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy import http
from mitmproxy.proxy import commands

log = logging.getLogger("omniroute")

VERDICT = "omniroute_lost"
"""flow.metadata: what failed (``connect``, ``headers``, ``body``), then the verdict."""
TAIL = "omniroute_tail"
RETRIED = "omniroute_retried"


@dataclass
class EngineLostHook(commands.StartHook):
    """The connection to the engine failed under a routed flow (see the module)."""

    name = "omniroute_engine_lost"
    flow: http.HTTPFlow


def install() -> bool:
    try:
        from mitmproxy.proxy.layers import http as layers
        from mitmproxy.proxy.layers.http import _events
    except ImportError:  # pragma: no cover
        return _unknown("its HTTP layer moved")
    stream = getattr(layers, "HttpStream", None)
    if not hasattr(layers, "SendHttp") or not hasattr(_events, "ResponseData"):
        return _unknown("its HTTP events are not as expected")
    needed = ("handle_protocol_error", "make_server_connection", "state_stream_response_body",
              "state_wait_for_response_headers", "send_response", "state_done")  # fmt: skip
    if stream is None or not all(hasattr(stream, name) for name in needed):
        return _unknown("HttpStream is not as expected")
    original = stream.handle_protocol_error
    if getattr(original, "omniroute", False):
        return True
    code = _events.ErrorCode

    def handle_protocol_error(self: Any, event: Any) -> Generator[Any, Any, None]:
        flow = getattr(self, "flow", None)
        what = _what_failed(self, event, flow, layers, code)
        if what is None or flow is None:
            return (yield from original(self, event))
        flow.metadata[VERDICT] = what
        yield EngineLostHook(flow)
        verdict = flow.metadata.pop(VERDICT, None)
        tail = flow.metadata.pop(TAIL, b"")
        if verdict == "retry" and what in ("connect", "headers") and not flow.metadata.get(RETRIED):
            yield from _resend(self, flow, layers.SendHttp, _events)
        elif verdict == "answer" and what in ("connect", "headers") and flow.response:
            yield from self.send_response()
        elif verdict == "end" and what == "body":
            if tail:
                if self.context.options.store_streamed_bodies:
                    self.response_body_buf += tail
                yield layers.SendHttp(_events.ResponseData(self.stream_id, tail),
                                     self.context.client)  # fmt: skip
            yield from self.state_stream_response_body(_events.ResponseEndOfMessage(self.stream_id))
        else:
            yield from original(self, event)

    handle_protocol_error.omniroute = True  # type: ignore[attr-defined]
    stream.handle_protocol_error = handle_protocol_error
    return True


def _what_failed(self: Any, event: Any, flow: Any, layers: Any, code: Any) -> str | None:
    """``connect``, ``headers``, ``body``: where a routed flow's engine side
    failed; None for anything else (the client's side, another flow)."""
    if not isinstance(event, layers.ResponseProtocolError) or flow is None:
        return None
    if "omniroute" not in flow.metadata or self.client_state == self.state_errored:
        return None
    if event.code == code.CONNECT_FAILED:
        # a body read whole can be sent again (a streamed one is under way)
        return "connect" if self.client_state == self.state_done else None
    if event.code != code.GENERIC_SERVER_ERROR:
        return None
    if self.server_state == self.state_wait_for_response_headers and flow.response is None:
        return "headers" if self.client_state == self.state_done else None
    if self.server_state == self.state_stream_response_body:
        return "body"
    return None


def _resend(
    self: Any, flow: Any, send: Callable[..., Any], events: Any
) -> Generator[Any, Any, None]:
    """The request once more, to where the flow points now (the new engine);
    mitmproxy's own steps for a request read whole (``state_consume_request_body``)."""
    flow.metadata[RETRIED] = True
    ok = yield from self.make_server_connection()
    if not ok:
        return  # a second failure went through the hook again, which answered it
    content = flow.request.raw_content
    server = self.context.server
    yield send(events.RequestHeaders(self.stream_id, flow.request, not content), server)
    if content:
        yield send(events.RequestData(self.stream_id, content), server)
    yield send(events.RequestEndOfMessage(self.stream_id), server)


def _unknown(why: str) -> bool:
    log.warning("omniroute: this mitmproxy's HTTP layer is unknown (%s): a call cut by an "
                "engine restart gets mitmproxy's own error, not one in the client's format",
                why)  # fmt: skip
    return False
