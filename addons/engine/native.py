"""Forwarding to the client's own destination, and what the engine answers
itself (model lists, token estimates). Header hygiene lives here."""

from __future__ import annotations

from collections.abc import Iterable

from .config import Config

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
    entries: list[dict[str, object]] = [
        {"id": n, "object": "model", "created": 0, "owned_by": "omniroute"} for n in names
    ]
    return {"object": "list", "data": entries}


def render_token_count(fmt: str, tokens: int) -> dict[str, object]:
    if fmt == "gemini":
        return {"totalTokens": tokens}
    return {"input_tokens": tokens}
