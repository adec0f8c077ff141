"""The state every exchange shares: config, upstream client, router, stores."""

from __future__ import annotations

from dataclasses import dataclass, field

from omniroute_mitm.engine.core import limits
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.records import Records
from omniroute_mitm.engine.execute.upstream import Upstream
from omniroute_mitm.engine.execute.webtools.service import Web
from omniroute_mitm.engine.record.metrics import Metrics
from omniroute_mitm.engine.record.reqlog import RequestLog
from omniroute_mitm.engine.record.usage import UsageLog
from omniroute_mitm.engine.route.router import Router
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.engine.translate.responses.store import ResponseStore
from omniroute_mitm.engine.translate.thinking import ThoughtCache


@dataclass(slots=True)
class Runtime:
    """What every exchange shares; ``config`` is replaced on reload."""

    config: Config
    upstream: Upstream
    records: Records = field(default_factory=Records)
    ping_interval: float = 10.0
    thoughts: ThoughtCache = field(default_factory=ThoughtCache)
    """Thinking metadata for clients that cannot carry it (see thoughts)."""
    memo: MessageMemo = field(default_factory=MessageMemo)
    """Messages parsed in earlier requests (a conversation resent every turn)."""
    exchanges: int = 0
    """Requests being answered right now (the status page's ``in_flight``)."""
    config_path: str | None = None
    """The file ``config`` comes from and is reloaded from (None: given in code)."""
    exchanges_total: int = 0
    """Requests answered since start."""
    router: Router = field(default_factory=Router)
    """Strategies, cooldowns, breakers, affinity, quota: kept across requests."""
    responses: ResponseStore = field(default_factory=ResponseStore)
    """Responses API state for Responses clients routed anywhere (see history)."""
    usage: UsageLog | None = None
    """Where closed records go (None: not kept beyond memory)."""
    request_log: RequestLog | None = None
    """Full requests and responses as files (omniroute_log_requests)."""
    max_body: int = limits.MAX_BODY
    """The largest request body, also once decoded (``--max-body``)."""
    metrics: Metrics = field(default_factory=Metrics)
    """Prometheus counters of this engine (its own registry), fed by each closed record."""
    streams: int = 0
    """Streamed requests being answered right now."""
    web: Web = field(default_factory=Web)
    """The web search backend and fetcher for targets without their own."""
