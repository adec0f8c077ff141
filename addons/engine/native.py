"""Forwarding to the client's own destination, and what the engine answers
itself (model lists, token estimates). Header hygiene lives here."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .config import Config
from .endpoints import NATIVE_BASE

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
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
ENGINE_PREFIX = "x-omniroute-"


def forward_request_headers(
    headers: Iterable[tuple[str, str]], *, strip_credentials: bool
) -> list[tuple[str, str]]:
    """The client's headers for its native destination: untouched except
    hop-by-hop, Host, Content-Length (recomputed) and the front's headers.
    A direct client's credential is the engine token: never forwarded."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in ("host", "content-length"):
            continue
        if lower.startswith(ENGINE_PREFIX):
            continue
        if strip_credentials and lower in CREDENTIAL_HEADERS:
            continue
        out.append((name, value))
    return out


def forward_response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
    ]


def native_url(fmt: str, path: str, original_url: str | None) -> str:
    """The front told us the original URL; a direct client gets its
    format's official host (without a ``?key=`` holding the engine token)."""
    if original_url:
        return original_url
    parts = urlsplit(NATIVE_BASE[fmt] + path)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "key"])
    return urlunsplit(parts._replace(query=query))


def catalog(config: Config) -> list[str]:
    """Model names a direct client can ask for: combos, then provider/model."""
    names = sorted(config.combos)
    for name, provider in sorted(config.providers.items()):
        names += [f"{name}/{model}" for model in provider.models or []]
    return names


def render_models(fmt: str, names: list[str]) -> dict[str, object]:
    """A model list in the client's format."""
    if fmt == "gemini":
        methods = ["generateContent", "streamGenerateContent", "countTokens"]
        models = [
            {"name": f"models/{n}", "displayName": n, "supportedGenerationMethods": methods}
            for n in names
        ]
        return {"models": models}
    if fmt == "anthropic":
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
            for n in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "omniroute"} for n in names]
    return {"object": "list", "data": data}


def render_token_count(fmt: str, tokens: int) -> dict[str, object]:
    if fmt == "gemini":
        return {"totalTokens": tokens}
    return {"input_tokens": tokens}
