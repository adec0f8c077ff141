"""Which of the shared store's mirrored keys still hold the server's value:
the server says when another instance changes one (client-side caching).

Redis (6 and later) and Valkey tell a client about writes to keys it cares
about (``CLIENT TRACKING``). :class:`Tracking` asks for broadcast mode on the
store's prefix, sent to a connection of its own subscribed to
``__redis__:invalidate`` (:class:`Channel`), and for ``NOLOOP`` on the
connection the store writes through: every write of another instance (or
client) to ``<prefix>*`` is announced, this instance's own are not (its
mirror has them already).

A key is *known* once a read made while tracking was on brought it into the
mirror (its value, or that the server has none), and stays known until an
invalidation names it. A request whose keys are all known, while nothing the
server sent is still unread (:meth:`Channel.quiet`: no byte waiting in the
socket or in the reader), is decided on the mirror without a round trip: a
write another instance had finished before the request began has been
announced, and the announcement read, unless it is still on the wire (the
staleness left is the one-way delay of the announcement, well under a round
trip). On one host there is none: the server sends a write's announcements
before its reply to the writer (``beforeSleep``: the broadcast, then the
pending replies), so once a write is acknowledged its announcement is read or
waits in the socket. Anything uncertain (tracking not set up yet or lost, an announcement
during a read, the mirror having dropped a key) means: read, as without
tracking.
"""

from __future__ import annotations

import asyncio
import logging
import math
import select
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)

CHANNEL = "__redis__:invalidate"
FAILURES = (RedisError, OSError, TimeoutError)


class Channel:
    """A connection subscribed to the invalidation messages.

    ``on_keys`` gets each message's keys (None: the server dropped every
    key, FLUSHALL); ``on_lost`` is called once when the connection fails
    (or leaves a PING unanswered for ``keepalive`` seconds).
    """

    def __init__(
        self,
        make: Callable[[], Any],
        on_keys: Callable[[list[str] | None], None],
        on_lost: Callable[[BaseException], None],
        keepalive: float,
    ) -> None:
        self.make = make
        self.on_keys = on_keys
        self.on_lost = on_lost
        self.keepalive = keepalive
        self._conn: Any = None
        self._poll: Any = None
        """A poll object on the connection's socket: a byte waiting, or its end."""
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> int:
        """Connect and subscribe; the server's id of this connection."""
        await self.close()
        conn = self.make()
        try:
            await conn.connect()
            client_id = await _command(conn, "CLIENT", "ID")
            await _command(conn, "SUBSCRIBE", CHANNEL)
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        self._conn, self._poll = conn, _poller(conn)
        self._task = asyncio.ensure_future(self._listen(conn))
        return int(client_id)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def quiet(self) -> bool:
        """Whether everything the server sent has been read (and applied):
        no byte in the socket, none in the reader; False when unsure."""
        reader = getattr(self._conn, "_reader", None)  # (redis-py reads it so too)
        if self._poll is None or reader is None or not self.alive or reader.at_eof():
            return False
        if getattr(reader, "_buffer", b"?"):
            return False
        return not self._poll.poll(0)  # a byte waits, the server closed it, an error

    async def close(self) -> None:
        task, conn = self._task, self._conn
        self._task = self._conn = self._poll = None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if conn is not None:
            await conn.disconnect(nowait=True)

    async def _listen(self, conn: Any) -> None:
        pinged = False
        try:
            while True:
                message = await conn.read_response(timeout=self.keepalive)
                if message is None:  # nothing for a while: is the server still there?
                    if pinged:
                        raise TimeoutError(f"no answer to PING in {self.keepalive} s")
                    await conn.send_command("PING")
                    pinged = True
                    continue
                pinged = False
                if isinstance(message, list) and len(message) == 3 and message[0] == "message":
                    self.on_keys(message[2])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (any failure: the channel is gone)
            if self._conn is conn:
                await self.close()
                self.on_lost(exc)


async def _command(conn: Any, *args: Any) -> Any:
    await conn.send_command(*args)
    reply = await conn.read_response(timeout=math.inf)
    if isinstance(reply, ResponseError):
        raise reply
    return reply


def _poller(conn: Any) -> Any:
    """A poll object on the connection's socket (None where there is no poll:
    then nothing is ever taken as known)."""
    writer = getattr(conn, "_writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if sock is None or not hasattr(select, "poll"):
        return None
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return poller


class Tracking:
    """Client-side caching for a :class:`SharedStore`: sets up the channel
    and the writer connection's tracking, and keeps which keys are known."""

    def __init__(
        self,
        prefix: str,
        make_channel: Callable[[], Any],
        writer: Any,
        writing: asyncio.Lock,
        on_unreachable: Callable[[BaseException], None],
        keepalive: float = 10.0,
        limit: int = 100_000,
    ) -> None:
        self.prefix = prefix
        self.writer, self.writing = writer, writing
        writer.register_connect_callback(self._writer_connected)
        self.on_unreachable = on_unreachable
        self.limit = limit
        self.channel = Channel(make_channel, self.invalidate, self._lost, keepalive)
        self.on = False
        """The writer connection's tracking is aimed at a live channel."""
        self.refused: str | None = None
        """Why the server will not track (an old server, an ACL): no more attempts."""
        self.known: dict[str, bool] = {}
        """Keys whose mirrored state is the server's: True held, False absent."""
        self._epoch = 0
        self._stamp = 0
        self._wiped = 0
        self._reads = 0
        self._touched: dict[str, int] = {}
        """Keys announced while reads were on the way: the announcement's stamp."""
        self._client_id: int | None = None
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timeout = 5.0

    # ------------------------------------------------------------ set-up

    def start(self, timeout: float) -> None:
        """Set tracking up now and again whenever it is lost (needs a loop)."""
        self._timeout = timeout
        if self._task is None:
            self._task = asyncio.ensure_future(self._keep())
        self._wanted.set()

    def again(self) -> None:
        """The server answers again: set tracking up anew."""
        self._wanted.set()

    def stop(self) -> None:
        """Nothing is known from now on (until tracking is set up again)."""
        self.on = False
        self._epoch += 1
        self.known.clear()

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.channel.close()

    async def _keep(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self.refused is not None:
                return
            try:
                async with asyncio.timeout(self._timeout):
                    await self._set_up()
            except ResponseError as exc:
                self._refuse(exc)
            except FAILURES as exc:
                self.stop()
                await self.channel.close()
                self.on_unreachable(exc)
            except Exception:  # a bug here must not stop sharing: requests read
                self.stop()
                await self.channel.close()
                log.exception("shared state: setting up tracking failed")

    async def _set_up(self) -> None:
        """The channel first, then the writer connection reconnected: its
        connect callback aims tracking at the channel."""
        self.stop()
        self._client_id = None
        self._client_id = await self.channel.open()
        async with self.writing:
            await self.writer.disconnect()
            await self.writer.connect()

    async def _writer_connected(self, conn: Any) -> None:
        """Every (re)connect of the writer connection: tracking is per
        connection, so whatever was known went with the old one."""
        self.stop()
        if self._client_id is None or not self.channel.alive or self.refused is not None:
            return
        await conn.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", self._client_id,
            "BCAST", "PREFIX", self.prefix, "NOLOOP",
        )  # fmt: skip
        reply = await conn.read_response()
        if isinstance(reply, ResponseError):
            self._refuse(reply)
            return
        self.on = True
        self._epoch += 1

    def _refuse(self, exc: BaseException) -> None:
        self.stop()
        self.refused = str(exc) or type(exc).__name__
        log.warning(
            "shared state: the server does not announce changed keys (%s); "
            "every request reads the keys it needs",
            self.refused,
        )

    def _lost(self, exc: BaseException) -> None:
        self.stop()
        self._client_id = None
        self._wanted.set()  # (if the server is gone, setting up again says so)

    # ------------------------------------------------------------ freshness

    def usable(self) -> bool:
        """Known keys may be used as they are (nothing unread on the channel)."""
        return self.on and self.channel.quiet()

    def fresh(self, key: str, mirrored: Callable[[str], str | None]) -> bool:
        """``key`` is known, and the mirror still has it if it was held (a
        key that expired or was dropped from the mirror is read again)."""
        state = self.known.get(key)
        return state is not None and (not state or mirrored(key) is not None)

    def invalidate(self, keys: list[str] | None) -> None:
        self._stamp += 1
        if keys is None:
            self.known.clear()
            self._wiped = self._stamp
            return
        for raw in keys:
            key = raw.removeprefix(self.prefix)
            self.known.pop(key, None)
            if self._reads:
                self._touched[key] = self._stamp

    def wrote(self, key: str, held: bool) -> None:
        """A write of this instance (not announced back to it: NOLOOP)."""
        if key in self.known:
            self.known[key] = held

    def begin_read(self) -> tuple[int, int]:
        self._reads += 1
        return (self._epoch if self.on else -1), self._stamp

    def end_read(self, token: tuple[int, int], seen: dict[str, bool]) -> None:
        """``seen``: what the read put in the mirror (True held, False
        absent); known unless announced since the read was sent."""
        self._reads -= 1
        epoch, stamp = token
        if self.on and epoch == self._epoch and self._wiped <= stamp:
            if len(self.known) + len(seen) > self.limit:
                self.known.clear()
            for key, held in seen.items():
                if self._touched.get(key, 0) <= stamp:
                    self.known[key] = held
        if not self._reads:
            self._touched.clear()
