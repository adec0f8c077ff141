"""The router's state shared through a Redis-protocol server (Valkey, Redis).

Selected with ``omniroute_state=redis://host:port/db`` (``--state`` of the
standalone engine, ``state:`` in config.yaml). Several instances then see the
same cooldowns, breakers, affinity, quota windows, rotation counters and
(through :meth:`SharedStore.add`) budget and rate-limit counters.

The design, for the hot path:

- The router stays synchronous: :class:`SharedStore` is a :class:`StateStore`
  whose reads come from a local mirror (a :class:`MemoryStore`).
- Before a request is planned, :meth:`SharedStore.refresh` reads the keys its
  plan needs from the server in one round trip (one Lua script: GET and PTTL
  of each key) and puts them in the mirror. It waits at most ``timeout``
  (default 0.1 s). Anything else that must be fresh before a request is
  admitted (budgets, rate limits) is read the same way: ``await refresh(keys)``.
- No round trip at all for keys the mirror is known to hold: the server
  announces every write another client makes under the prefix (client-side
  caching, :mod:`.invalidations`), so a key read since, and not announced,
  still has the server's value, as long as no announcement waits unread. A
  request whose keys are all known waits for nothing (on one busy instance,
  or on instances that use different targets, nearly every request); a key
  another instance wrote is read again. What another instance wrote is seen
  by every request that begins once the announcement has reached this host
  (its one-way delay, under a round trip; on one host, as in the tests, by
  every request that begins after the write was acknowledged).
- Writes (set, incr, add, delete) change the mirror at once and are sent in
  the background through one connection of their own (the one tracking is
  set on), batched, each batch one MULTI/EXEC: ``SET k v PX ttl``,
  ``SET k 0 PX ttl NX`` + ``INCRBY``/``INCRBYFLOAT`` (the time to live
  applies when the key is new, atomically), ``DEL``. A batch goes
  ``LINGER`` (25 ms) after its first write (the next one no sooner than
  that after the last began), so the writes of many requests share one
  round trip, and other instances see a write that much later at most:
  a request's own two writes (its use counted when it starts, its
  outcome when it ends) were two round trips when each went at once, on
  an idle instance too, the engine's largest cost of the shared state.
  A batch's writes of one key are sent as one (:func:`_coalesce`): the
  last SET or DEL, increments summed (a busy target's ``uses`` counter
  and ``stats`` are written by every request). The server's counter
  values come back into the mirror unless the key was written here again
  meanwhile. A delete of a key the mirror does not hold is not sent (the
  mirror holds what the plan's refresh read).
- A refresh never overwrites a key with writes of ours still on the way.
- Two instances deciding within the same round trip may both see the same
  counter value (the same round-robin start): sharing is exact for
  decisions a round trip apart, and counters never lose an increment.
- Keys are namespaced with ``prefix`` (default ``omniroute:``). One server or
  a primary; no cluster (a refresh's keys would span slots).

Outage: an error or a timeout on a read or a write logs one warning ("shared
state unreachable ..., going on with this instance's memory"); refreshes then
return at once, writes stay local and their keys are remembered (at most
``DIRTY_MAX``). A probe PINGs every ``probe_interval`` seconds; when the
server answers, the keys written meanwhile are sent (counters as the amount
added here, other keys as this instance's value), one line is logged and
sharing resumes. The announcements' connection lost (or a PING on it
unanswered): nothing is known until it is set up again (at once, or when
sharing resumes). No request ever fails or waits longer than ``timeout``
because of the shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from omniroute_mitm.engine.core.stateurl import StateURL
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from .invalidations import Tracking
from .state import Clock, MemoryStore

log = logging.getLogger(__name__)

DIRTY_MAX = 10_000
BATCH = 512
LINGER = 0.025
"""Seconds a batch waits for more writes after its first one, and at
least from one batch to the next (:meth:`SharedStore._write_loop`)."""
FAILURES = (RedisError, OSError, TimeoutError)

_READ = """
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.pcall('GET', key)
  if type(value) == 'table' then value = false end  -- not a string: as if absent
  out[2 * i - 1] = value
  out[2 * i] = redis.call('PTTL', key)
end
return out
"""


@dataclass(slots=True)
class _Op:
    kind: str
    """set, incr, add, del."""
    key: str
    seq: int
    value: str = ""
    amount: float = 0.0
    ttl: float | None = None


class SharedStore:
    """A :class:`StateStore` mirrored locally and shared through Redis/Valkey."""

    def __init__(
        self,
        where: StateURL,
        clock: Clock = time.time,
        capacity: int = 20_000,
        probe_interval: float = 2.0,
        max_connections: int = 64,
    ) -> None:
        self.where = where
        self.prefix = where.prefix
        self.timeout = where.timeout
        self.probe_interval = probe_interval
        self.local = MemoryStore(capacity, clock)
        self.get = self.local.get
        """Reads are the mirror's (the router reads a dozen keys per request)."""
        self.redis = aioredis.Redis(connection_pool=self._pool(max_connections))
        self._read = self.redis.register_script(_READ)
        self.writer = self._connection()
        """Writes go through one connection: the server does not announce them back."""
        self.writing = asyncio.Lock()
        """Who uses the writer connection (the write loop, setting tracking up)."""
        self.tracking = Tracking(
            self.prefix, self._connection, self.writer, self.writing, self._down,
            keepalive=max(5.0, probe_interval * 5), limit=4 * capacity,
        )  # fmt: skip
        self.up = True
        """False while the server is unreachable (this instance's memory only)."""
        self._queue: list[_Op] = []
        self._pending: Counter[str] = Counter()
        """Writes queued or on the way, per key."""
        self._seq = 0
        self._written: dict[str, int] = {}
        """The sequence number of each key's last local write."""
        self._reading: Counter[int] = Counter()
        self._dirty: dict[str, float | None] = {}
        """Keys written while down: the amount added (a counter), or None (its value)."""
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        """Someone waits for the writes (flush): no lingering."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = False
        """A refresh's read is on the way."""
        self._waiting: tuple[dict[str, None], asyncio.Future[None]] | None = None
        """The keys of the requests waiting for the next read, and its end."""

    def __repr__(self) -> str:
        return f"SharedStore({self.where.shown!r}, up={self.up})"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the writer and tracking (needs a running event loop)."""
        if not self._tasks:
            self._tasks.append(asyncio.ensure_future(self._write_loop()))
            self.tracking.start(max(1.0, self.timeout * 10))

    def _pool(self, size: int, **options: Any) -> aioredis.BlockingConnectionPool:
        return aioredis.BlockingConnectionPool.from_url(
            self.where.url,
            max_connections=size,
            timeout=None,
            socket_connect_timeout=max(1.0, self.timeout * 10),
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            **{"socket_timeout": max(1.0, self.timeout * 10), **options},
        )

    def _connection(self) -> Any:
        """A connection of its own (the writer's, the invalidations'): RESP2
        (the announcements come as replies, not as pushes), no timeout of its
        own (the caller bounds what it waits for)."""
        pool = self._pool(1, protocol=2, socket_timeout=None)
        return pool.connection_class(**pool.connection_kwargs)

    async def check(self) -> bool:
        """Whether the server answers now (at start-up: logs once if not)."""
        try:
            async with asyncio.timeout(max(1.0, self.timeout)):
                await self.redis.ping()
        except FAILURES as exc:
            self._down(exc)
            return False
        return True

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until the writes made so far have been sent (or given up)."""
        self._urgent.set()
        async with asyncio.timeout(timeout):
            while self._queue or not self._idle.is_set():
                self._wake.set()
                await self._idle.wait()
                await asyncio.sleep(0)

    async def close(self) -> None:
        if self.up:
            try:
                await self.flush(max(1.0, self.timeout * 10))
            except TimeoutError:
                pass  # the server is too slow: what is left stays local
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.tracking.close()
        await self.writer.disconnect()
        await self.redis.aclose(close_connection_pool=True)

    # ------------------------------------------------------------ StateStore

    def get(self, key: str) -> str | None:  # (replaced per instance: the mirror's get)
        return self.local.get(key)

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.local.set(key, value, ttl)
        self.tracking.wrote(key, True)
        self._send(_Op("set", key, self._next(key), value=value, ttl=ttl))

    def incr(self, key: str, ttl: float | None = None) -> int:
        count = self.local.incr(key, ttl)
        self.tracking.wrote(key, True)
        self._send(_Op("incr", key, self._next(key), amount=1, ttl=ttl))
        return count

    def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        total = self.local.add(key, amount, ttl)
        self.tracking.wrote(key, True)
        self._send(_Op("add", key, self._next(key), amount=amount, ttl=ttl))
        return total

    def delete(self, key: str) -> None:
        if self.local.get(key) is None and not self._pending[key]:
            return  # nothing to delete (the refresh before the plan read it)
        self.local.delete(key)
        self.tracking.wrote(key, False)
        self._send(_Op("del", key, self._next(key)))

    # ------------------------------------------------------------ reading

    async def refresh(self, keys: Iterable[str]) -> None:
        """Bring ``keys`` into the local mirror from the server: one round
        trip, at most ``timeout``; none for keys the mirror is known to hold
        (:mod:`.invalidations`); returns at once while the server is down.
        While a read is on the way, the requests that come meanwhile share
        the next one (one round trip for all of them, not one each: under
        load the round trips' CPU, not their latency, is the cost)."""
        if not self.up:
            return
        pending = self._pending  # (a key is in it while writes of it are on the way)
        if self.tracking.usable():
            known, held = self.tracking.known, self.local.get
            wanted = [  # (Tracking.fresh inlined: a dozen keys per request)
                k
                for k in dict.fromkeys(keys)
                if k not in pending
                and ((state := known.get(k)) is None or (state and held(k) is None))
            ]
        else:
            wanted = [k for k in dict.fromkeys(keys) if k not in pending]
        if not wanted:
            return
        if not self._in_flight:
            await self._read_now(wanted)
            return
        if self._waiting is None:
            self._waiting = ({}, asyncio.get_running_loop().create_future())
        self._waiting[0].update(dict.fromkeys(wanted))
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(self._waiting[1])
        except TimeoutError:
            return  # the read itself says when the server is down

    async def _read_now(self, wanted: list[str]) -> None:
        self._in_flight = True
        try:
            await self._read_keys(wanted)
        finally:
            self._in_flight = False
            if self._waiting is not None:
                (keys, done), self._waiting = self._waiting, None
                self._tasks.append(asyncio.ensure_future(self._read_next(list(keys), done)))

    async def _read_next(self, keys: list[str], done: asyncio.Future[None]) -> None:
        try:
            wanted = [k for k in keys if not self._pending[k]]
            if wanted:
                await self._read_now(wanted)
        finally:
            if not done.done():
                done.set_result(None)
            task = asyncio.current_task()
            if task in self._tasks:
                self._tasks.remove(task)  # type: ignore[arg-type]

    async def _read_keys(self, wanted: list[str]) -> None:
        start = self._seq
        self._reading[start] += 1
        token, seen = self.tracking.begin_read(), {}
        try:
            async with asyncio.timeout(self.timeout):
                raw = await self._read(keys=[self.prefix + k for k in wanted])
            seen = self._mirror(wanted, raw, start)
        except FAILURES as exc:
            self._down(exc)
        except Exception:  # a bug here must not fail the request: it goes on locally
            log.exception("shared state: reading %d keys failed", len(wanted))
        finally:
            self._reading[start] -= 1
            if not self._reading[start]:
                del self._reading[start]
            self.tracking.end_read(token, seen)

    def _mirror(self, wanted: list[str], raw: list[Any], start: int) -> dict[str, bool]:
        """A read's values into the mirror; which keys it set (True) or
        found absent (False)."""
        seen = {}
        for i, key in enumerate(wanted):
            if self._pending[key] or self._written.get(key, 0) > start:
                continue  # written here since: ours is newer
            value, pttl = raw[2 * i], raw[2 * i + 1]
            if value is None:
                self.local.delete(key)
            else:
                self.local.set(key, str(value), None if pttl < 0 else pttl / 1000)
            seen[key] = value is not None
        return seen

    # ------------------------------------------------------------ writing

    def _next(self, key: str) -> int:
        self._seq += 1
        self._written[key] = self._seq
        if len(self._written) > 4 * self.local.capacity:
            floor = min(self._reading, default=self._seq)
            self._written = {k: s for k, s in self._written.items() if s > floor}
        return self._seq

    def _send(self, op: _Op) -> None:
        if not self.up:
            self._remember(op)
            return
        self._queue.append(op)
        self._pending[op.key] += 1
        self._wake.set()

    def _remember(self, op: _Op) -> None:
        """A write while the server is down, to send when it is back."""
        if op.key not in self._dirty and len(self._dirty) >= DIRTY_MAX:
            return
        before = self._dirty.get(op.key, 0.0)
        counter = op.kind in ("incr", "add") and before is not None
        self._dirty[op.key] = (before or 0.0) + op.amount if counter else None

    async def _write_loop(self) -> None:
        """A batch goes ``LINGER`` after its first write (at once for
        :meth:`flush`); while batches follow one another, each goes
        ``LINGER`` after the last began."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            await self._linger(LINGER)
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                self._idle.clear()
                sent = loop.time()
                try:
                    await self._write(batch)
                finally:
                    self._idle.set()
                if self._queue:  # written meanwhile: busy, let more writes join the next
                    await self._linger(sent + LINGER - loop.time())
            self._urgent.clear()

    async def _linger(self, delay: float) -> None:
        if delay > 0 and not self._urgent.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._urgent.wait()

    async def _write(self, batch: list[_Op]) -> None:
        try:
            async with asyncio.timeout(max(1.0, self.timeout * 10)):
                ops = _coalesce(batch)
                commands = [c for op in ops for c in _commands(self.prefix, op)]
                results = await self._transaction(commands)
        except FAILURES as exc:
            for op in batch:
                self._pending[op.key] -= 1
            self._down(exc)
            for op in batch:
                self._remember(op)
            self._clean(batch)
            return
        for op in batch:
            self._pending[op.key] -= 1
        counts = iter(results)
        for op in ops:
            if op.kind in ("incr", "add") and op.ttl is not None:
                next(counts)  # the SET NX
            result = next(counts)
            if isinstance(result, Exception):  # the key's own problem (not a number)
                log.warning("shared state: %s %s: %s", op.kind, op.key, result)
            elif op.kind in ("incr", "add") and self._written.get(op.key) == op.seq:
                self._merge(op, result)
        self._clean(batch)

    async def _transaction(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """MULTI, ``commands``, EXEC on the writer's connection in one write:
        the replies of EXEC (an error among them is returned, not raised).
        redis-py's connection without its pipeline and pool layers: a third
        of their CPU."""
        conn = self.writer
        async with self.writing:
            try:
                await conn.send_packed_command(
                    conn.pack_commands([("MULTI",), *commands, ("EXEC",)]), check_health=False
                )
                for _ in range(len(commands) + 1):  # OK, then QUEUED for each
                    await conn.read_response()
                results = await conn.read_response()
            except BaseException:
                await conn.disconnect(nowait=True)  # (replies may be left unread)
                raise
        if not isinstance(results, list) or len(results) != len(commands):
            raise ResponseError(f"EXEC answered {results!r}")
        return results

    def _merge(self, op: _Op, result: Any) -> None:
        """The server's count (all instances' increments) into the mirror."""
        value = str(result)
        if op.kind == "add":
            value = _number(float(result))
        left = self.local.expiry(op.key)
        if left is None and self.local.get(op.key) is None:
            left = op.ttl
        self.local.set(op.key, value, left)

    def _clean(self, batch: list[_Op]) -> None:
        for op in batch:
            if self._pending[op.key] <= 0:
                del self._pending[op.key]

    # ------------------------------------------------------------ outage

    def _down(self, exc: BaseException) -> None:
        self.tracking.stop()
        if not self.up:
            return
        self.up = False
        why = str(exc) or type(exc).__name__
        log.warning(
            "shared state unreachable at %s (%s), going on with this instance's memory",
            self.where.shown,
            why,
        )
        for op in self._queue:
            self._pending[op.key] -= 1
            self._remember(op)
        self._clean(self._queue)
        self._queue = []
        self._tasks.append(asyncio.ensure_future(self._probe_loop()))

    async def _probe_loop(self) -> None:
        while not self.up:
            await asyncio.sleep(self.probe_interval)
            try:
                async with asyncio.timeout(max(1.0, self.timeout)):
                    await self.redis.ping()
                    await self._resync()
            except FAILURES:
                continue
            self.up = True
            self.tracking.again()
            log.warning("shared state at %s answers again: sharing resumes", self.where.shown)
        task = asyncio.current_task()
        if task in self._tasks:
            self._tasks.remove(task)

    async def _resync(self) -> None:
        """Send what this instance learned while the server was away."""
        dirty, self._dirty = self._dirty, {}
        try:
            pipe = self.redis.pipeline(transaction=True)
            for key, added in dirty.items():
                left = self.local.expiry(key)
                px = None if left is None else max(1, int(left * 1000))
                value = self.local.get(key)
                if value is None:
                    pipe.delete(self.prefix + key)
                elif added is None:
                    pipe.set(self.prefix + key, value, px=px)
                else:
                    if px is not None:
                        pipe.set(self.prefix + key, 0, px=px, nx=True)
                    pipe.incrbyfloat(self.prefix + key, added)
            await pipe.execute()
        except BaseException:
            for key, added in dirty.items():  # try again at the next probe
                self._dirty.setdefault(key, added)
            raise


def _coalesce(batch: list[_Op]) -> list[_Op]:
    """The batch's writes, fewer, to the same effect: per key, a SET or DEL
    drops the writes before it (it overwrites them), and increments of one
    kind in a row become one of their sum, with the first one's time to live
    (the one the key gets if it is new; the others' SET NX would do
    nothing). The order of the keys does not matter (one MULTI/EXEC), each
    key's own is kept. A merged write carries its last write's sequence
    number (the server's count comes back into the mirror as before)."""
    by_key: dict[str, list[_Op]] = {}
    for op in batch:
        ops = by_key.get(op.key)
        if ops is None:
            by_key[op.key] = [op]
        elif op.kind == "set" or op.kind == "del":
            ops[:] = [op]
        elif ops[-1].kind == op.kind:  # incr after incr, add after add
            first = ops[-1]
            ops[-1] = _Op(op.kind, op.key, op.seq, amount=first.amount + op.amount, ttl=first.ttl)
        else:
            ops.append(op)
    if len(by_key) == len(batch):
        return batch
    return [op for ops in by_key.values() for op in ops]


def _commands(prefix: str, op: _Op) -> list[tuple[Any, ...]]:
    """A write as Redis commands (a counter with a time to live: created
    with it first, so the window counts from the first write)."""
    key = prefix + op.key
    px = None if op.ttl is None else max(1, int(op.ttl * 1000))
    if op.kind == "set":
        return [("SET", key, op.value) if px is None else ("SET", key, op.value, "PX", px)]
    if op.kind == "del":
        return [("DEL", key)]
    out: list[tuple[Any, ...]] = [] if px is None else [("SET", key, 0, "PX", px, "NX")]
    if op.kind == "incr":
        return [*out, ("INCRBY", key, int(op.amount))]
    return [*out, ("INCRBYFLOAT", key, op.amount)]


def _number(value: float) -> str:
    return repr(int(value)) if value.is_integer() else repr(value)
