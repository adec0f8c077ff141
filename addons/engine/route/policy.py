"""Per user and per group: which models and targets, how much, how fast.

The user is the proxy user mitmproxy authenticated (core.team has the
config). :meth:`Policy.admit` runs after routing and before any provider
call: a model or target not allowed is a 403; a budget or rate limit
reached is a 429 naming the limit and when it resets. :meth:`Policy.settle`
adds a request's cost and tokens once its usage is recorded.

Budget semantics: a request is admitted while the spend so far is under the
budget, so the request that crosses it is the last one let through. Native
calls (the client's own credentials) cost the team nothing: not counted. Windows
are UTC: days, calendar months, minutes. The counters go through the
router's :class:`StateStore` (shared when the store is).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.errors import Forbidden, LimitReached
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.core.team import DEFAULT_USER, Limits, entry

from .plan import Attempt
from .state import Clock, StateStore

DAY_TTL = 2 * 86400.0
MONTH_TTL = 40 * 86400.0
MINUTE_TTL = 120.0
SEEN = 1000
"""Users remembered for the status page."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One set of limits that applies: a user's or a group's."""

    kind: str
    """user or group."""
    name: str
    limits: Limits
    path: str
    """Where config.yaml sets them: ``users.alice``, ``users.*``, ``groups.dev``."""

    @property
    def who(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Member:
    """Who is calling, and the limits that hold for them."""

    user: str
    group: str | None = None
    scopes: tuple[Scope, ...] = field(default=())


def member(config: Config, user: str | None) -> Member | None:
    if not user:
        return None
    mine = entry(config.users, user)
    if mine is None:
        return Member(user)
    path = f"users.{user}" if user in config.users else f"users.{DEFAULT_USER}"
    scopes = [Scope("user", user, mine, path)]
    group = config.groups.get(mine.group) if mine.group else None
    if group is not None and mine.group is not None:
        scopes.append(Scope("group", mine.group, group, f"groups.{mine.group}"))
    return Member(user, mine.group, tuple(scopes))


class Policy:
    def __init__(self, store: StateStore, clock: Clock = time.time) -> None:
        self.store = store
        self.clock = clock
        self.seen: OrderedDict[str, str | None] = OrderedDict()
        """Users seen by this process, with their group (the status page)."""

    def admit(self, who: Member, model: str, target: str, attempts: list[Attempt]) -> list[Attempt]:
        """The attempts ``who`` may make (raises Forbidden or LimitReached)."""
        self._saw(who)
        for scope in who.scopes:
            attempts = _allowed(scope, model, target, attempts)
        now = self.clock()
        for scope in who.scopes:
            self._budgets(scope, now)
        for scope in who.scopes:
            self._tokens(scope, now)
        for scope in who.scopes:
            self._requests(scope, now)
        return attempts

    def keys(self, who: Member) -> list[str]:
        """The counters :meth:`admit` reads for ``who`` now (a shared store
        reads them fresh before the request is admitted: Router.prefetch)."""
        now = self.clock()
        w, minute = windows(now), int(now // 60)
        keys = []
        for scope in who.scopes:
            base = f"{scope.kind}:{scope.name}"
            keys += [f"spend:{base}:d:{w.day}", f"spend:{base}:m:{w.month}",
                     f"tpm:{base}:{minute}", f"rpm:{base}:{minute}"]  # fmt: skip
        return keys

    def settle(self, who: Member, record: Record) -> None:
        """Count what an admitted request spent (once its usage is final)."""
        now = self.clock()
        w = windows(now)
        t = record.tokens
        tokens = t.input + t.cache_read + t.cache_write + t.output if t is not None else 0
        counted = dict.fromkeys([("user", who.user), *((s.kind, s.name) for s in who.scopes)])
        for kind, name in counted:  # (a user without limits too: the status page shows it)
            base = f"{kind}:{name}"
            if record.cost and not record.native:  # (native: the client's own key paid)
                self.store.add(f"spend:{base}:d:{w.day}", record.cost, DAY_TTL)
                self.store.add(f"spend:{base}:m:{w.month}", record.cost, MONTH_TTL)
            if tokens:
                self.store.add(f"tpm:{base}:{int(now // 60)}", tokens, MINUTE_TTL)

    def spent(self, kind: str, name: str) -> dict[str, float]:
        """US dollars this UTC day and month so far."""
        w, base = windows(self.clock()), f"spend:{kind}:{name}"
        return {
            "today": _float(self.store.get(f"{base}:d:{w.day}")),
            "month": _float(self.store.get(f"{base}:m:{w.month}")),
        }

    def _saw(self, who: Member) -> None:
        self.seen[who.user] = who.group
        self.seen.move_to_end(who.user)
        while len(self.seen) > SEEN:
            self.seen.popitem(last=False)

    def _budgets(self, scope: Scope, now: float) -> None:
        base, w = f"spend:{scope.kind}:{scope.name}", windows(now)
        for per, budget, key, reset in (
            ("day", scope.limits.usd_per_day, f"{base}:d:{w.day}", w.next_day),
            ("month", scope.limits.usd_per_month, f"{base}:m:{w.month}", w.next_month),
        ):
            if budget is None:
                continue
            spent = _float(self.store.get(key))
            if spent >= budget:
                raise LimitReached(
                    f"omniroute: {scope.who} has spent ${spent:.4f} of the budget of "
                    f"${budget:.2f} per {per} ({scope.path}.usd_per_{per}); it resets at "
                    f"{_iso(reset)}", reset - now, retry=False)  # fmt: skip

    def _tokens(self, scope: Scope, now: float) -> None:
        limit = scope.limits.tokens_per_minute
        if limit is None:
            return
        minute = int(now // 60)
        used = _float(self.store.get(f"tpm:{scope.kind}:{scope.name}:{minute}"))
        if used >= limit:
            raise _per_minute(scope, f"used {used:.0f} tokens", "tokens_per_minute", limit, now)

    def _requests(self, scope: Scope, now: float) -> None:
        limit = scope.limits.requests_per_minute
        if limit is None:
            return
        minute = int(now // 60)
        count = self.store.incr(f"rpm:{scope.kind}:{scope.name}:{minute}", MINUTE_TTL)
        if count > limit:
            made = f"made {limit} requests"
            raise _per_minute(scope, made, "requests_per_minute", limit, now)


def _allowed(scope: Scope, model: str, target: str, attempts: list[Attempt]) -> list[Attempt]:
    """The attempts ``scope`` lets through (a denied model or no target left: 403)."""
    limits, names = scope.limits, (model, target)
    for pattern in limits.deny:
        if any(fnmatchcase(n, pattern) for n in names):
            raise Forbidden(f"omniroute: {scope.who} may not use {model!r} "
                            f"({scope.path}.deny has {pattern!r})")  # fmt: skip
    kept = [a for a in attempts if not any(fnmatchcase(a.target, p) for p in limits.deny)]
    allow = limits.allow
    if allow is not None and not any(fnmatchcase(n, p) for n in names for p in allow):
        kept = [a for a in kept if any(fnmatchcase(a.target, p) for p in allow)]
        if not kept:
            raise Forbidden(f"omniroute: {scope.who} may not use {model!r} (not in "
                            f"{scope.path}.allow)")  # fmt: skip
    if attempts and not kept:
        raise Forbidden(f"omniroute: {scope.who} may not use any target of {target!r} "
                        f"({scope.path}.deny)")  # fmt: skip
    return kept


def _per_minute(scope: Scope, did: str, key: str, limit: int, now: float) -> LimitReached:
    reset = (int(now // 60) + 1) * 60.0
    return LimitReached(
        f"omniroute: {scope.who} {did} this minute, the limit is {limit} "
        f"({scope.path}.{key}); it resets at {_iso(reset)}", reset - now)  # fmt: skip


def _float(value: str | None) -> float:
    return float(value) if value else 0.0


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@dataclass(frozen=True, slots=True)
class Windows:
    """The UTC day and month a moment falls in, and when each ends."""

    day: str
    month: str
    next_day: float
    next_month: float


@functools.lru_cache(maxsize=4)
def _windows_of(day_number: int) -> Windows:
    start = _utc(day_number * 86400.0)
    first = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1,
                          day=1)  # fmt: skip
    return Windows(start.strftime("%Y-%m-%d"), start.strftime("%Y-%m"),
                   (start + dt.timedelta(days=1)).timestamp(), first.timestamp())  # fmt: skip


def windows(ts: float) -> Windows:
    """(Computed once a day: strftime costs ~10 us a call.)"""
    return _windows_of(int(ts // 86400))


def _iso(ts: float) -> str:
    return _utc(ts).isoformat(timespec="seconds").replace("+00:00", "Z")
