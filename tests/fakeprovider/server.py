"""The fake provider: one loopback tornado server that speaks all four formats.

In-process (pytest)::

    fp = FakeProvider().start()
    fp.script([Reply(status=429), Reply(text="hi")])
    ... point a client or the proxy's config at fp.url ...
    fp.requests[-1].headers["authorization"]
    fp.stop()

By hand (manual runs, benchmarks)::

    .venv/bin/python tests/fakeprovider/server.py --port 9999 [--bench-events 2000]
    curl -s localhost:9999/_fake/script -d '{"replies": [{"text": "hi"}]}'
    curl -s localhost:9999/_fake/requests

Endpoints: POST /v1/chat/completions, /v1/responses, /v1/messages,
/v1/messages/count_tokens, /v1beta/models/{m}:generateContent,
:streamGenerateContent (alt=sse or JSON array), :countTokens (also under /v1/);
GET /v1/models (OpenAI shape, or Anthropic's when an anthropic-version header
is sent), /v1beta/models. Control: /_fake/script, /_fake/default,
/_fake/requests, /_fake/reset.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `fakeprovider` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "fakeprovider"

import tornado.httpserver
import tornado.netutil

from fakeprovider.handlers import DEFAULT_MODELS, State, make_app
from fakeprovider.record import Recorded
from fakeprovider.replies import DEFAULT_REPLY, Reply


class FakeProvider:
    """The server on its own thread and event loop; the test thread scripts and inspects it."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        accept_keys: Iterable[str] | None = None,
        models: list[str] | None = None,
        gzip: bool = False,
        verbose: bool = False,
    ) -> None:
        self.host, self.port, self.gzip, self.verbose = host, port, gzip, verbose
        self.state = State(DEFAULT_REPLY, accept_keys, models or list(DEFAULT_MODELS))
        self._accept_keys = self.state.accept_keys
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeProvider:
        sockets = tornado.netutil.bind_sockets(self.port, self.host)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = tornado.httpserver.HTTPServer(
                make_app(self.state, self.gzip, self.verbose), decompress_request=True
            )
            self._server.add_sockets(sockets)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()
            self._loop.run_until_complete(self._server.close_all_connections())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"fakeprovider:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop or not self._thread:
            return
        server = self._server
        if server:
            self._loop.call_soon_threadsafe(server.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- scripting

    def script(self, replies: Iterable[Reply], append: bool = False) -> None:
        with self.state.lock:
            if not append:
                self.state.queue.clear()
            self.state.queue.extend(replies)

    @property
    def default(self) -> Reply:
        return self.state.default

    @default.setter
    def default(self, reply: Reply) -> None:
        self.state.default = reply

    @property
    def pending(self) -> int:
        with self.state.lock:
            return len(self.state.queue)

    def accept_keys(self, keys: Iterable[str] | None) -> None:
        """Answer 401 (in the format's shape) to requests without one of ``keys``."""
        self.state.accept_keys = set(keys) if keys else None

    def reset(self) -> None:
        with self.state.lock:
            self.state.queue.clear()
            self.state.log.clear()
            self.state.default = DEFAULT_REPLY
            self.state.accept_keys = self._accept_keys

    # ---------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.log)

    def model_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.state.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.state.lock.wait(min(left, 0.05))
        return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Fake LLM provider speaking four wire formats.")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--bench-events", type=int, default=0,
                   help="default reply: a text stream of this many deltas")
    p.add_argument("--delay-first-byte", type=float, default=0.0)
    p.add_argument("--delay-between", type=float, default=0.0)
    p.add_argument("--key", action="append", help="accept only these API keys")
    p.add_argument("--gzip", action="store_true", help="gzip responses (when the client accepts)")
    p.add_argument("--quiet", action="store_true", help="no access log")
    args = p.parse_args(argv)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    fp = FakeProvider(args.port, args.host, accept_keys=args.key, gzip=args.gzip,
                      verbose=not args.quiet)
    timing = {"delay_first_byte": args.delay_first_byte, "delay_between": args.delay_between}
    if args.bench_events:
        fp.default = Reply.bench(args.bench_events, **timing)
    else:
        fp.default = Reply(text=DEFAULT_REPLY.text, **timing)
    fp.start()
    print(f"fake provider listening at {fp.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fp.stop()


if __name__ == "__main__":
    main()
