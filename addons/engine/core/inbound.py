"""What an exchange reads and writes: the request as received, the response
sink (the tornado handler) and the state every exchange shares."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    pass


class Sink(Protocol):
    """Where the client's response goes (the tornado handler)."""

    @property
    def committed(self) -> bool:
        """Status and headers are on the wire: errors must go in-stream."""
        ...

    def head(self, status: int, headers: list[tuple[str, str]]) -> None: ...

    async def send(self, data: bytes) -> None:
        """Write and flush (commits the head)."""
        ...

    def abort(self) -> None:
        """Close the connection without ending the body: the client sees a cut."""
        ...


@dataclass(slots=True)
class Inbound:
    method: str
    path: str
    """Path and query as the client sent them."""
    headers: list[tuple[str, str]]
    body: bytes
    """As received (maybe zstd/gzip encoded)."""
    original_url: str | None = None
    """What the client called, told by the front; None for direct clients
    (authenticated by the direct token), which have no native destination."""
    user: str | None = None
    """The proxy user, told by the front (mitmproxy's proxyauth); None: none."""

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def host(self) -> str | None:
        return urlsplit(self.original_url).hostname if self.original_url else None


_APPS = (
    (re.compile(r"claude-cli|claude-code", re.I), "claude-cli"),
    (re.compile(r"codex", re.I), "codex"),
    (re.compile(r"gemini-cli|GeminiCLI", re.I), "gemini-cli"),
    (re.compile(r"QwenCode/|qwen-code", re.I), "qwen-code"),
    (re.compile(r"^opencode/", re.I), "opencode"),
    (re.compile(r"^litellm/", re.I), "litellm"),  # Aider and other LiteLLM-based clients
    (re.compile(r"^(OpenAI|AsyncOpenAI)/Python|openai-python", re.I), "openai-sdk"),
    (re.compile(r"^Anthropic/Python|anthropic-sdk", re.I), "anthropic-sdk"),
    (re.compile(r"google-genai-sdk|google-api-python|genai", re.I), "google-genai-sdk"),
    (re.compile(r"^(OpenAI|Anthropic)/JS", re.I), "js-sdk"),
)


def client_app(user_agent: str | None) -> str:
    """claude-cli, codex, gemini-cli, qwen-code, opencode, litellm, an SDK, or other."""
    for pattern, name in _APPS:
        if user_agent and pattern.search(user_agent):
            return name
    return "other"


def key_id(secret: str | None) -> str:
    """A short hash that tells keys apart and never shows one."""
    if not secret:
        return ""
    return hashlib.sha256(secret.encode()).hexdigest()[:10]
