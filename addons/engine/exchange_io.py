"""What an exchange reads and writes: the request as received, the response
sink (the tornado handler) and the state every exchange shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from .config import Config
from .history.store import ResponseStore
from .records import Records
from .routing import Router
from .thoughts import ThoughtCache
from .upstream import Upstream

if TYPE_CHECKING:
    from .reqlog import RequestLog
    from .usage import UsageLog


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

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def host(self) -> str | None:
        return urlsplit(self.original_url).hostname if self.original_url else None


@dataclass(slots=True)
class Runtime:
    """What every exchange shares; ``config`` is replaced on reload."""

    config: Config
    upstream: Upstream
    records: Records = field(default_factory=Records)
    ping_interval: float = 10.0
    thoughts: ThoughtCache = field(default_factory=ThoughtCache)
    """Thinking metadata for clients that cannot carry it (see thoughts)."""
    exchanges: int = 0
    """Requests being answered right now (the status page)."""
    router: Router = field(default_factory=Router)
    """Strategies, cooldowns, breakers, affinity, quota: kept across requests."""
    responses: ResponseStore = field(default_factory=ResponseStore)
    """Responses API state for Responses clients routed anywhere (see history)."""
    usage: UsageLog | None = None
    """Where closed records go (None: not kept beyond memory)."""
    request_log: RequestLog | None = None
    """Full requests and responses as files (omniroute_log_requests)."""
