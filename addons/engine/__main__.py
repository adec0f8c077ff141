"""Run the engine as its own process (uses a second core):

    python -m omniroute_mitm.engine --config config.yaml --port 8765 \
        --secret-file certs/engine.secret

then ``mitmdump -s addons/omniroute.py --set omniroute_engine_url=http://127.0.0.1:8765
--set omniroute_engine_secret_file=certs/engine.secret``. The secret file is
created (mode 0600) when missing. ``--direct`` lets clients that use a base
URL call the engine with the token in ``$OMNIROUTE_DIRECT_TOKEN`` as API key.

The front starts it this way by default (:mod:`engine.process`), with
``--secret-file -`` (the secret is the first line on stdin) and ``--parent PID``:
the engine then stops when its parent is gone (stdin closed, a parent death
signal on Linux, or a changed parent pid).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from omniroute_mitm.engine.core import limits, private
from omniroute_mitm.engine.core.arena import ArenaView
from omniroute_mitm.engine.core.config import ConfigError, load_config
from omniroute_mitm.engine.core.database import (
    DATA_DIR_ENV,
    DEFAULT_URL,
    StoreError,
    data_dir,
    open_store,
)
from omniroute_mitm.engine.core.limits import parse_size
from omniroute_mitm.engine.core.stateurl import STATE_ENV
from omniroute_mitm.engine.record.reqlog import RequestLog
from omniroute_mitm.engine.serve.server import Engine
from omniroute_mitm.engine.serve.sharing import StateError, chosen, open_state
from omniroute_mitm.engine.translate.responses import open_responses

DIRECT_TOKEN_ENV = "OMNIROUTE_DIRECT_TOKEN"


def read_secret(path: Path) -> str:
    """The secret in ``path``, created (0600) with a random one if missing;
    ``-``: the first line on stdin."""
    if str(path) == "-":
        secret = sys.stdin.buffer.readline().decode("utf-8").strip()
        if not secret:
            raise SystemExit("--secret-file -: no secret on stdin")
        return secret
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    secret = secrets.token_urlsafe(32)
    path.unlink(missing_ok=True)  # (empty): a new file, 0600 whatever the umask
    with os.fdopen(private.create_file(path), "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return secret


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m omniroute_mitm.engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--config", default="config.yaml", help="the config file (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default: any free one)")
    parser.add_argument(
        "--secret-file", required=True, help="the front's shared secret (created if missing)"
    )
    parser.add_argument(
        "--direct", action="store_true", help=f"accept clients with ${DIRECT_TOKEN_ENV} as API key"
    )
    parser.add_argument(
        "--store",
        default=DEFAULT_URL,
        help="the database URL: sqlite:///FILE, postgresql://USER@HOST/DB or none "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--state",
        default=os.environ.get(STATE_ENV),
        help="the router's state: memory or redis://HOST:PORT/DB, shared by instances "
        f"(default: ${STATE_ENV}, else config.yaml's state:, else memory)",
    )
    parser.add_argument(
        "--data-dir", help=f"where the database lives (default: ${DATA_DIR_ENV}, else data/)"
    )
    parser.add_argument(
        "--parent", type=int, default=0, help="stop when this process is gone (the front)"
    )
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="write each request and response (keys masked) under DATA_DIR/requests",
    )
    parser.add_argument(
        "--max-body",
        type=parse_size,
        default=limits.MAX_BODY,
        help="refuse a request body over this (413), e.g. 64m (default: 64m)",
    )
    parser.add_argument(
        "--body-memory",
        type=parse_size,
        default=limits.BODY_MEMORY,
        help="request bodies held at once; past it a 429 (default: 256m)",
    )
    parser.add_argument(
        "--body-arena",
        type=int,
        default=None,
        help=argparse.SUPPRESS,  # the front's shared memory of large bodies (an inherited fd)
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    direct = os.environ.get(DIRECT_TOKEN_ENV) if args.direct else None
    if args.direct and not direct:
        print(f"--direct needs the token in ${DIRECT_TOKEN_ENV}", file=sys.stderr)
        return 1
    store = None
    if args.store.lower() != "none":
        try:
            store = open_store(args.store, base=data_dir(args.data_dir))
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return 1
    try:
        state = open_state(chosen(args.state, config.state), _state_name(args.state))
    except StateError as exc:
        print(exc, file=sys.stderr)
        return 1
    secret = read_secret(Path(args.secret_file))
    responses = open_responses(args.data_dir, store, persist=args.store.lower() != "none")
    request_log = RequestLog(data_dir(args.data_dir) / "requests") if args.log_requests else None
    engine = Engine(
        config, secret=secret, direct_token=direct, responses=responses, store=store,
        request_log=request_log, max_body=args.max_body, body_memory=args.body_memory,
        state=state,
    )  # fmt: skip
    if args.body_arena is not None:
        try:
            engine.arena = ArenaView(args.body_arena)
        except (OSError, ValueError) as exc:  # the front sends every body over the socket then
            logging.warning("--body-arena: %s", exc)
    port = engine.start(args.host, args.port)
    # What start-up made (modules, config, price table) lives as long as the
    # process: out of the collector's sight, a full collection walks only
    # what requests made (long bodies make it run often).
    gc.collect()
    gc.freeze()
    for warning in config.warnings if not args.parent else ():  # a front logged them
        logging.warning("%s", warning)
    print(f"engine listening at http://{args.host}:{port}", flush=True)
    engine.watch(args.config)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    if args.parent:
        watch_parent(args.parent, stop)
    try:
        await stop.wait()
    finally:
        await engine.stop()
    return 0


def _state_name(given: str | None) -> str:
    """What a bad state URL's error names."""
    if not given:
        return "state"
    return STATE_ENV if given == os.environ.get(STATE_ENV) else "--state"


def watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` when the parent is gone: a death signal (Linux), stdin
    closed, or our parent pid no longer ``parent`` (polled)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the signal was armed
        stop.set()
        return
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)

    async def poll() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        stop.set()

    asyncio.ensure_future(poll())


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        # Under a front, each line is re-logged there (which adds the time).
        format="%(levelname)s %(message)s"
        if args.parent
        else "%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
