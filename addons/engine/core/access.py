"""Who may have a call routed: no provider key is spent for a caller without
a credential, nor for a web page.

A model call that reaches the engine through the front must carry the
credential its client format requires (any value: a routed call gets the
provider's key; a native one goes to the vendor with the client's own):

- Anthropic: ``x-api-key`` or ``Authorization``;
- OpenAI (Chat Completions, Responses): ``Authorization``;
- Gemini: ``x-goog-api-key``, ``Authorization`` or the ``key`` query parameter.

Without one the client gets a 401 in its own format, as from the vendor. A
call from a browser context (an ``Origin`` header, or ``Sec-Fetch-Site:
cross-site``/``same-site``) gets a 403 unless its origin is in
``security.allowed_origins``: a page the user visits cannot spend the
configured keys, even with a "simple" cross-site POST that needs no CORS
preflight. The front refuses CORS preflights to the AI hosts for origins
not on that list (no ``Access-Control-Allow-Origin``).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from omniroute_mitm.translators import get_format

from .errors import EngineError, Forbidden, Unauthenticated

BROWSER_SITES = frozenset({"cross-site", "same-site"})
"""``Sec-Fetch-Site`` values of a request a page on another site made."""

_CREDENTIAL_HEADERS: dict[str, tuple[str, ...]] = {
    "anthropic": ("x-api-key", "authorization"),
    "openai-chat": ("authorization",),
    "openai-responses": ("authorization",),
    "gemini": ("x-goog-api-key", "authorization"),
}
_MISSING: dict[str, str] = {
    "anthropic": "x-api-key header is required",
    "openai-chat": "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    "gemini": "Method doesn't allow unregistered callers (callers without established "
    "identity). Please use API Key or other form of API consumer identity to call this API.",
}
_MISSING["openai-responses"] = _MISSING["openai-chat"]
_HINT = " (omniroute: any value works; a routed call is sent with the provider's key)"


class Headers(Protocol):
    def get(self, name: str, default: Any = None, /) -> Any: ...


def normal_origin(origin: str) -> str:
    """``scheme://host[:port]``, lower-case, without a default port or a slash."""
    text = origin.strip().lower().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    if not parts.scheme or not parts.hostname:
        return text
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    return bool(origin) and normal_origin(origin or "") in {normal_origin(a) for a in allowed}


def browser_origin(headers: Headers) -> str | None:
    """The page's origin when a browser made the request for a page ("" when
    it gave none), else None."""
    origin = headers.get("origin")
    if origin is not None:
        return str(origin)
    if str(headers.get("sec-fetch-site") or "").strip().lower() in BROWSER_SITES:
        return ""
    return None


def has_credential(fmt: str, headers: Headers, query: str = "") -> bool:
    """Whether the call carries the credential its client format requires."""
    for name in _CREDENTIAL_HEADERS.get(fmt, ("authorization",)):
        value = str(headers.get(name) or "").strip()
        if name == "authorization":
            value = value.split(None, 1)[-1] if " " in value else value  # "Bearer x" -> x
            if value.lower() in ("bearer", "basic"):
                value = ""
        if value:
            return True
    if fmt == "gemini":
        return any(v.strip() for v in parse_qs(query).get("key", []))
    return False


def refusal(
    fmt: str, headers: Headers, query: str, allowed_origins: Collection[str]
) -> EngineError | None:
    """Why a call from the front may not be served, or None when it may."""
    origin = browser_origin(headers)
    if origin is not None and not origin_allowed(origin, allowed_origins):
        return page_refused(origin)
    if not has_credential(fmt, headers, query):
        return Unauthenticated(_MISSING.get(fmt, "an API key is required") + _HINT)
    return None


def page_refused(origin: str | None) -> Forbidden:
    return Forbidden(
        f"omniroute: calls from web pages are refused (origin {origin or '(none given)'} is "
        "not in security.allowed_origins of the omniroute config)"
    )


def render(fmt: str, error: EngineError) -> tuple[int, bytes]:
    """The error as the client's format answers it: (status, JSON body)."""
    status, body = get_format(fmt).render_error(error.info())
    return status, json.dumps(body).encode()
