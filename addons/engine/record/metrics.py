"""Prometheus metrics: one closed record updates a few counters, once.

:class:`Metrics` owns a registry of its own (not prometheus_client's global
one): two engines in one process, or the tests, never share a series.
:meth:`Metrics.observe` runs where a request's record is closed
(``serve.exchange``): the label values go through :class:`Labels`, which
keeps only names the config gives (providers, combos, route targets, their
models) and buckets the rest, so a client cannot grow the label sets with
its own model names. Request ids, errors' texts and keys are never labels.

What changes without a request (cooldowns, breakers, requests in flight) is
read when scraped, by a collector given to :meth:`Metrics.watch`
(:mod:`.router_metrics`).
"""

from __future__ import annotations

import re
from typing import Any, get_args

from omniroute_mitm.engine.core import prices
from omniroute_mitm.engine.core.calls import Kind
from omniroute_mitm.engine.core.config import NATIVE, Config
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.route.failures import FailureClass
from omniroute_mitm.translators import FORMAT_NAMES
from omniroute_mitm.translators.canonical import ErrorKind, kind_for_status
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

OTHER = "other"
"""The bucket for a value the config does not name."""
NONE = "-"
"""No value: not routed, nothing answered, no proxy user."""
MAX_USERS = 500
"""Proxy users the config does not list get a label of their own up to this
many (first seen); the rest share ``other``."""

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
"""Seconds to the first content byte: a model answers in 0.3-2 s, a long
thinking one or a cold start in tens of seconds."""
TOTAL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0)
"""Seconds to the end of the answer: agents' turns run for minutes."""

TOKEN_CLASSES = ("input", "output", "cache_read", "cache_write", "reasoning")
KINDS: frozenset[str] = frozenset(get_args(Kind))
ERROR_CLASSES: frozenset[str] = frozenset(get_args(ErrorKind))
FAILURE_CLASSES: frozenset[str] = frozenset(get_args(FailureClass))
_CONTINUED = re.compile(r"continued on (\S+) ")
_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
NATIVE_VENDORS = frozenset({*prices.HOSTS.values(), "unknown"})
MAX_MODELS = 4096
"""Model names remembered per config (each maps to a bounded label)."""


def outcome(record: Record) -> str:
    """ok, client_error (4xx), error (5xx), or cancelled (the client left)."""
    if record.error == "client disconnected" or record.status == 499:
        return "cancelled"
    if record.status >= 500 or (record.error is not None and record.status < 400):
        return "error"
    if record.status >= 400:
        return "client_error"
    return "ok"


def requests_client(record: Record) -> str:
    return record.client if record.client in FORMAT_NAMES else OTHER


class Labels:
    """Label values bounded by one config: recomputed when the config changes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.providers = frozenset(config.providers)
        self.routes = frozenset({*config.combos, *(r.to for r in config.routes), NATIVE})
        models: set[str] = set()
        for target in {*self.routes, *(t for c in config.combos.values() for t in c.names)}:
            if "/" in target:
                models.add(target.partition("/")[2])
        for provider in config.providers.values():
            models.update(provider.models or ())
        self.models = frozenset(models)
        self._priced: dict[str, str] = {}
        self.users = _names(getattr(config, "users", None))
        self.groups = _names(getattr(config, "groups", None))

    def route(self, target: str) -> str:
        """A combo, a route's target or native; else ``provider/other``."""
        if not target:
            return NONE
        if target in self.routes:
            return target
        provider, _, model = target.partition("/")
        if provider in self.providers:
            return target if model in self.models else f"{provider}/{OTHER}"
        return OTHER

    def provider(self, name: str) -> str:
        if not name:
            return NONE
        if name in self.providers:
            return name
        if name.startswith("native/"):  # native/<vendor>: the host table's names
            return name if name[7:] in NATIVE_VENDORS else "native/other"
        return OTHER

    def provider_of(self, label: str) -> str:
        """The provider of an attempt's label (``provider/model#n`` or native)."""
        return NATIVE if label == NATIVE else self.provider(label.partition("/")[0])

    def model(self, name: str) -> str:
        """A model the config names, or one the price table knows (native
        traffic: the client's model); a dated name as its alias; else other."""
        if name in self.models:
            return name
        if not name:
            return NONE
        label = self._priced.get(name)
        if label is None:
            label = _priced_name(name)
            if len(self._priced) < MAX_MODELS:
                self._priced[name] = label
        return label


def _names(section: Any) -> frozenset[str]:
    """The names a config section (``users:``, ``groups:``) gives, keyed or listed."""
    if isinstance(section, dict):
        return frozenset(k for k in section if isinstance(k, str))
    if isinstance(section, list | tuple):
        found = (getattr(item, "name", item) for item in section)
        return frozenset(name for name in found if isinstance(name, str))
    return frozenset()


def _priced_name(name: str) -> str:
    """``name`` (or its undated alias) if the price snapshot has it, else other."""
    models: dict[str, Any] = prices.snapshot()["models"]
    for candidate in dict.fromkeys((name, _DATED.sub("", name))):
        if any(f"{vendor}/{candidate}" in models for vendor in prices.FIRST_PARTY):
            return candidate
    return OTHER


class Users:
    """Proxy users and groups as labels: the config's names, then the first
    :data:`MAX_USERS` others seen (names proxyauth vouched for, not free text)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def label(self, name: Any, known: frozenset[str]) -> str:
        if not isinstance(name, str) or not name:
            return NONE
        if name in known or name in self.seen:
            return name
        if len(self.seen) < MAX_USERS:
            self.seen.add(name)
            return name
        return OTHER


def user_of(record: Record, field: str) -> Any:
    """``record.user`` (or ``group``): the proxy user the front vouched for
    (None: no proxyauth)."""
    return getattr(record, field, None)


class Metrics:
    """The engine's metrics; ``observe`` each closed record, ``render`` to scrape."""

    def __init__(self) -> None:
        # No ``*_created`` series (a start time beside each counter, which the
        # text format turns into as many gauges); the library has one switch,
        # for the process, which only the engine's metrics use.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self._labels: Labels | None = None
        self._users = Users()
        self._groups = Users()
        self._children: dict[tuple[Any, ...], Any] = {}
        r = self.registry
        self.requests = Counter(
            "omniroute_requests", "Requests answered, by client format, call kind, route "
            "(combo or target), provider that answered and outcome class",
            ["client", "kind", "route", "provider", "outcome"], registry=r)  # fmt: skip
        self.errors = Counter(
            "omniroute_errors", "Requests that ended in an error, by the class of the "
            "error the client got", ["client", "route", "class"], registry=r)  # fmt: skip
        self.tokens = Counter(
            "omniroute_tokens", "Tokens by class (input: fresh input without cache; output "
            "includes reasoning)", ["provider", "model", "class"], registry=r)  # fmt: skip
        self.estimated = Counter(
            "omniroute_estimated_requests", "Requests whose tokens are estimates (the "
            "provider reported no usage)", ["provider"], registry=r)  # fmt: skip
        self.cost = Counter(
            "omniroute_cost_usd", "Cost in US dollars of the priced requests",
            ["provider", "model"], registry=r)  # fmt: skip
        self.ttft = Histogram(
            "omniroute_time_to_first_token_seconds", "Seconds from the request to the first "
            "content byte sent to the client (streamed answers)", ["route", "provider"],
            buckets=TTFT_BUCKETS, registry=r)  # fmt: skip
        self.duration = Histogram(
            "omniroute_request_duration_seconds", "Seconds from the request to the end of "
            "the answer", ["route", "provider", "stream"], buckets=TOTAL_BUCKETS,
            registry=r)  # fmt: skip
        self.fallbacks = Counter(
            "omniroute_fallbacks", "Attempts that failed over to the next target, by the "
            "provider that failed, the one tried next and the failure class",
            ["from_provider", "to_provider", "class"], registry=r)  # fmt: skip
        self.continuations = Counter(
            "omniroute_continuations", "Streams that broke after content and were "
            "continued (on the provider named) or ended with their whole tool calls",
            ["provider", "how"], registry=r)  # fmt: skip
        self.user_requests = Counter(
            "omniroute_user_requests", "Requests per proxy user ('-': no user)",
            ["user", "group"], registry=r)  # fmt: skip
        self.user_tokens = Counter(
            "omniroute_user_tokens", "Tokens (input, cached and output) per proxy user",
            ["user", "group"], registry=r)  # fmt: skip
        self.user_cost = Counter(
            "omniroute_user_cost_usd", "Cost in US dollars per proxy user (budget use)",
            ["user", "group"], registry=r)  # fmt: skip

    def watch(self, collector: Collector) -> None:
        """Add a collector read at scrape time (router state, in-flight counts)."""
        self.registry.register(collector)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition for a scraper's Accept header: (body, content type)."""
        encoder, media = choose_encoder(accept or "")
        return encoder(self.registry), media

    def labels_for(self, config: Config) -> Labels:
        if self._labels is None or self._labels.config is not config:
            self._labels = Labels(config)
        return self._labels

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, cached: a hot path's dict lookup."""
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe(self, record: Record, config: Config) -> None:
        """Count one closed record: a few dict lookups and increments."""
        labels = self.labels_for(config)
        route = labels.route(record.target)
        provider = labels.provider(record.provider)
        result = outcome(record)
        generate = record.kind == "generate"
        requests, duration, ttft = self._request_series(record, route, provider, result)
        requests.inc()
        if result != "ok" and result != "cancelled":
            error = record.error_class or kind_for_status(record.status)
            error = error if error in ERROR_CLASSES else OTHER
            self._child(self.errors, requests_client(record), route, error).inc()
        if record.failures:
            self._fallbacks(record, labels)
        if record.continued:
            self._continuations(record, labels)
        if not generate:
            return
        if ttft is not None and record.first_byte_ms is not None:
            ttft.observe(record.first_byte_ms / 1000)
        if record.duration_ms is not None:
            duration.observe(record.duration_ms / 1000)
        self._usage(record, labels, provider)

    def _request_series(
        self, record: Record, route: str, provider: str, result: str
    ) -> tuple[Any, Any, Any]:
        """(requests, duration, time to first token or None) for these labels."""
        client = requests_client(record)
        kind = record.kind if record.kind in KINDS else OTHER
        stream = "true" if record.stream else "false"
        key = ("request", client, kind, route, provider, result, stream)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (
                self.requests.labels(client, kind, route, provider, result),
                self.duration.labels(route, provider, stream) if kind == "generate" else None,
                self.ttft.labels(route, provider)
                if kind == "generate" and record.stream and result == "ok"
                else None,
            )  # fmt: skip
        return found  # type: ignore[no-any-return]

    def _usage(self, record: Record, labels: Labels, provider: str) -> None:
        user = self._users.label(user_of(record, "user"), labels.users)
        group = self._groups.label(user_of(record, "group"), labels.groups)
        key = ("user", user, group)
        per_user = self._children.get(key)
        if per_user is None:
            per_user = self._children[key] = tuple(
                m.labels(user, group) for m in (self.user_requests, self.user_tokens,
                                                self.user_cost))  # fmt: skip
        per_user[0].inc()
        t = record.tokens
        if t is None:
            return
        model = labels.model(record.upstream_model or record.model)
        key = ("tokens", provider, model)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = tuple(
                self.tokens.labels(provider, model, name) for name in TOKEN_CLASSES
            )
        counts = (t.input, t.output, t.cache_read, t.cache_write, t.reasoning)
        for child, count in zip(series, counts, strict=True):
            if count:
                child.inc(count)
        per_user[1].inc(t.input + t.output + t.cache_read + t.cache_write)
        if record.estimated:
            self._child(self.estimated, provider).inc()
        if record.cost:  # (an unpriced model has no cost series, rather than 0)
            self._child(self.cost, provider, model).inc(record.cost)
            per_user[2].inc(record.cost)

    def _fallbacks(self, record: Record, labels: Labels) -> None:
        """Each failed-over attempt ``i``: from its provider to attempt ``i+1``'s."""
        attempts, kinds = record.attempts, record.failure_kinds
        for i in range(len(record.failures)):
            source = labels.provider_of(attempts[i]) if i < len(attempts) else OTHER
            to = labels.provider_of(attempts[i + 1]) if i + 1 < len(attempts) else NONE
            kind = kinds[i] if i < len(kinds) and kinds[i] in FAILURE_CLASSES else OTHER
            self._child(self.fallbacks, source, to, kind).inc()

    def _continuations(self, record: Record, labels: Labels) -> None:
        for note in record.continued:
            if m := _CONTINUED.match(note):
                self._child(self.continuations, labels.provider_of(m.group(1)), "continued").inc()
            else:
                self._child(self.continuations, NONE, "ended_with_tool_calls").inc()
