"""The one place a failed attempt gets its class: what it means for the
combo (fall back or answer the client), what to cool down, for how long.

Classes, by what the router does with them:

- ``rate_limited`` (429, Anthropic 529, Gemini RESOURCE_EXHAUSTED, quota
  bodies): cool the key down (honouring Retry-After and reset times); next.
- ``auth`` (401, 403): cool the key down longer; next key.
- ``model`` (404, 410, 400 "model not found"): lock the model on that
  provider for a while; next target.
- ``transient`` (5xx, timeouts, connection errors, empty answers, a stream
  that ends before content): backoff, and counts toward the target's breaker.
- ``context`` (context too long): next target (a larger window), no penalty.
- ``signature`` (a refused thinking signature): same target once, without
  thinking blocks.
- ``stale`` (a pooled connection closed before any response byte): same
  target once on a fresh connection, no penalty.
- ``request`` (the request's own fault, 400/413/422): back to the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from omniroute_mitm.engine.core.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatus,
    UpstreamStreamError,
    UpstreamTimeout,
)
from omniroute_mitm.engine.core.quota import retry_after
from omniroute_mitm.translators import ErrorInfo

FailureClass = Literal[
    "rate_limited", "auth", "model", "transient", "context", "signature", "stale", "request"
]
FALLS_BACK: frozenset[str] = frozenset({"rate_limited", "auth", "model", "transient", "context"})
RETRY_SAME: frozenset[str] = frozenset({"signature", "stale"})

_CONTEXT = re.compile(
    r"context[_ ]length|context window|too many tokens|prompt is too long|maximum context"
    r"|input is too long|exceeds the (?:maximum|max)|token limit",
    re.I,
)
_MODEL = re.compile(
    r"model\b.*\b(?:not found|does not exist|not available|unsupported|is not supported)"
    r"|(?:unknown|invalid|no such) model|model_not_found",
    re.I,
)
# A thinking signature the provider did not issue, in each provider's words:
# Anthropic "Invalid `signature` in `thinking` block", Gemini "Corrupted thought
# signature." / "Thought signature is not valid", OpenAI Responses
# "invalid_encrypted_content" / "The encrypted content ... could not be verified".
_SIGNATURE = re.compile(
    r"thinking\b.*\bsignature|signature\b.*\bthinking|thought[ _]?signature"
    r"|invalid_encrypted_content|encrypted content\b.*\bcould not be verified",
    re.I | re.S,
)
_QUOTA = re.compile(r"RESOURCE_EXHAUSTED|quota|rate[_ ]limit|overloaded|insufficient_quota", re.I)


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureClass
    status: int
    retry_after: float | None = None
    """Seconds the provider asked us to wait (None: not said)."""
    provider_wide: bool = False
    """The provider itself is unreachable (refused, DNS, TLS): every model and key."""

    @property
    def falls_back(self) -> bool:
        return self.kind in FALLS_BACK

    @property
    def retry_same(self) -> bool:
        return self.kind in RETRY_SAME

    def again(self) -> Failure:
        """The same failure after its one retry on the same target: it falls back."""
        return Failure("transient", self.status, provider_wide=True) if self.retry_same else self


def classify(err: UpstreamError, now: float | None = None) -> Failure:
    if isinstance(err, UpstreamConnectError):
        if err.no_response:
            return Failure("stale", err.status)
        return Failure("transient", err.status, provider_wide=True)
    if isinstance(err, UpstreamTimeout):
        return Failure("transient", err.status)
    headers: tuple[tuple[str, str], ...] = ()
    text = err.message
    if isinstance(err, UpstreamStatus):
        headers = err.headers
        text = err.body[:8192].decode("utf-8", "replace")
    elif isinstance(err, UpstreamStreamError):
        text = f"{err.error.kind} {err.error.message}"
    kind = _kind(err.status, text)
    retry = retry_after(headers, text, now) if kind == "rate_limited" else None
    return Failure(kind, err.status, retry)


def _kind(status: int, text: str) -> FailureClass:
    if status in (429, 529) or (status == 402) or (status == 403 and _QUOTA.search(text)):
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "model"
    if status >= 500 or status == 408:
        return "rate_limited" if "RESOURCE_EXHAUSTED" in text else "transient"
    if status in (400, 413, 422):
        if _CONTEXT.search(text) or status == 413:
            return "context"
        if _MODEL.search(text):
            return "model"
        if _SIGNATURE.search(text):
            return "signature"
        if "RESOURCE_EXHAUSTED" in text:
            return "rate_limited"
    return "request"


def empty_answer(label: str) -> UpstreamStreamError:
    """A 200 with no content: a transient failure that falls back."""
    return UpstreamStreamError(ErrorInfo(502, "server", f"{label}: answered without content"))
