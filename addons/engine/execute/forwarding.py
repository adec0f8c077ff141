"""Forwarding to the client's own destination: which headers go on, and
which never leave (hop-by-hop, the engine's own)."""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
ENGINE_PREFIX = "x-omniroute-"


def forward_request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's headers for its native destination: untouched except
    hop-by-hop, Host, Content-Length (recomputed) and the front's headers."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in ("host", "content-length"):
            continue
        if not lower.startswith(ENGINE_PREFIX):
            out.append((name, value))
    return out


def forward_response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
    ]
