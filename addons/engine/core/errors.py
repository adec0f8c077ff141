"""The engine's one exception hierarchy.

Every failure the engine can answer with is an :class:`EngineError`; the
pipeline renders it in the client's own error format. httpx exceptions are
mapped into it in exactly one place (:func:`engine.upstream.mapped_errors`).
"""

from __future__ import annotations

import math

from omniroute_mitm.translators import ErrorInfo
from omniroute_mitm.translators.canonical import ErrorKind, kind_for_status


class EngineError(Exception):
    """A failure with an HTTP status, shown to the client in its format."""

    def __init__(self, status: int, message: str, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind: ErrorKind = kind or kind_for_status(status)

    def info(self) -> ErrorInfo:
        return ErrorInfo(self.status, self.kind, self.message)


class BadRequest(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message, "invalid_request")


class NotFound(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(404, message, "not_found")


class Unauthenticated(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message, "authentication")


class Forbidden(EngineError):
    def __init__(self, message: str) -> None:
        super().__init__(403, message, "permission")


class LimitReached(EngineError):
    """A proxy user's (or group's) budget or rate limit: a 429 whose
    Retry-After says when it resets (engine.route.policy)."""

    def __init__(self, message: str, retry_after: float, *, retry: bool = True) -> None:
        super().__init__(429, message, "rate_limit")
        self.reply_headers: tuple[tuple[str, str], ...] = (
            ("retry-after", str(max(1, math.ceil(retry_after)))),
        )
        """Headers on the client's error response."""
        if not retry:  # a budget resets at midnight: the SDKs need not retry now
            self.reply_headers += (("x-should-retry", "false"),)


class UpstreamError(EngineError):
    """An attempt failed; :mod:`engine.failures` says what that means for the combo."""

    falls_back = False
    """Set once classified: the next attempt may answer instead."""


class UpstreamStatus(UpstreamError):
    """The upstream answered with an error status; ``body`` is its bytes in
    wire format ``fmt`` (None: unknown)."""

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        fmt: str | None = None,
        label: str = "upstream",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(status, f"{label} answered {status}")
        self.body = body
        self.fmt = fmt
        self.headers = headers
        """The response's headers (lower-case names): Retry-After, rate limits."""


class UpstreamConnectError(UpstreamError):
    def __init__(self, message: str, *, no_response: bool = False) -> None:
        super().__init__(502, message, "server")
        self.no_response = no_response
        """The connection closed before any response byte (maybe a pooled
        keep-alive connection the provider had closed while idle)."""


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(504, message, "timeout")


class UpstreamStreamError(UpstreamError):
    """The upstream's stream itself reported an error (an error event), or
    ended before any content."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.status, error.message, error.kind)
        self.error = error


class ClientGone(Exception):
    """The client closed its connection: nothing more can be sent."""
