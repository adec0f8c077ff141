#!/usr/bin/env python3
"""Translation speed: events/s per streaming direction, microseconds per
request translation, and the same work done by LiteLLM's Anthropic<->OpenAI
adapters on the same input, in the same run. A benchmark, not a test.

    .venv/bin/python scripts/bench_translate.py            # full run (~2 min of CPU)
    .venv/bin/python scripts/bench_translate.py --quick    # smoke run
    .venv/bin/python scripts/bench_translate.py --json     # machine-readable
    .venv/bin/python scripts/bench_translate.py --profile anthropic:openai-chat

Method. Every number is CPU time (``time.process_time_ns``), the median of
several repetitions after one warm-up run, with ``gc.collect()`` before each.
The measurements of one table run round-robin (one repetition of each per
round), so load from other processes during the run hits them alike.

* Streams: for each of the 4 provider formats a 2,000-event stream (thinking,
  text deltas of a few tokens, two tool calls with fragmented arguments,
  usage at the end) built by that format's own stream encoder from one
  canonical event list (scripts/bench_inputs.py). A ``StreamTranslator`` is
  created per repetition and fed one SSE event per ``feed`` call, as a network
  delivers them; events/s = provider events / CPU seconds; us/chunk is CPU per
  provider event. The 4 same-format rows are the passthrough (bytes forwarded,
  only observed), for reference.
* Requests: a Claude-Code-sized Anthropic body (system blocks, 11 turns with
  thinking, tool calls and tool results, 9 tools with ~35 KB of JSON schema),
  converted by our own translators into each client format, then timed
  through ``translate_request(client, provider, body)`` for the 12 pairs.
  Each call gets its own deep copy of the body, made outside the clock.
* Target: at most 50 us of CPU per translated chunk, at least 10x LiteLLM's
  events/s.

LiteLLM (optional: ``pip install -e '.[bench]'``) is timed on the same bytes
and bodies for the directions it has adapters for, at two depths:

* "proxy path": what LiteLLM's proxy runs. The provider's SSE bytes are served
  by an ``httpx.MockTransport`` (no network) to ``litellm.completion`` (Anthropic
  provider: its ``ModelResponseIterator`` over ``iter_lines``, then
  ``CustomStreamWrapper``) or to ``anthropic_messages_handler`` with an OpenAI
  model (the OpenAI SDK's SSE parser, ``CustomStreamWrapper``, then
  ``AnthropicStreamWrapper.anthropic_sse_wrapper``); chat chunks are
  serialized to SSE as the proxy's ``async_data_generator`` does. Shortcuts,
  all in LiteLLM's favour: the sync entry points instead of the proxy's
  asyncio ones, per-chunk streaming logging off
  (``litellm.disable_streaming_logging``), no callbacks, and the request that
  opens the stream is a one-message one (its cost is spread over the stream;
  about 1.5% of the total). Its end-of-stream work (``stream_chunk_builder``,
  the success handler on LiteLLM's logging thread) is counted: it is part of
  every proxied stream and ``process_time`` sees all threads.
* "adapter only": the translation code alone, without ``CustomStreamWrapper``
  and the HTTP/SDK layers: SSE lines (``str.splitlines`` per event, the job
  ``httpx.iter_lines`` does) into LiteLLM's own chunk parsers
  (``OpenAIChatCompletionStreamingHandler``, which LiteLLM uses for
  OpenAI-compatible providers instead of the OpenAI SDK / Anthropic
  ``ModelResponseIterator``), then ``AnthropicStreamWrapper`` or the proxy's
  chunk serializer. For requests: ``AnthropicAdapter
  .translate_completion_input_params_with_tool_mapping`` (adapter only) and
  ``_prepare_completion_kwargs`` (proxy path: adapter plus the proxy's
  model-dependent reasoning-effort handling).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, NamedTuple

from bench_inputs import MODEL, claude_code_request, provider_stream
from omniroute_mitm.translators import (
    FORMAT_NAMES,
    Accumulator,
    Env,
    StreamTranslator,
    get_format,
    translate_request,
)

ROOT = Path(__file__).resolve().parent.parent

TARGET_US_PER_CHUNK = 50.0
TARGET_RATIO = 10.0
INPUT_TOKENS = 41_000
LITELLM_OPENAI_MODEL = "gpt-4.1"  # what the Anthropic client is routed to
GEMINI_PARSE = {"model": MODEL, "stream": True}  # Gemini carries these in the URL


# ------------------------------------------------------------------------ timing


class Task(NamedTuple):
    run: Callable[[Any], Any]
    """Timed; gets what ``setup`` returned (made outside the clock)."""
    setup: Callable[[], Any] = lambda: None


def cpu_medians_ns[K](tasks: dict[K, Task], reps: int) -> dict[K, int]:
    """Median CPU ns of each task over ``reps`` runs after one warm-up run.
    The tasks run round-robin (one run of each per round), so a load change
    on the machine during the benchmark hits them all alike."""
    samples: dict[K, list[int]] = {key: [] for key in tasks}
    for round_ in range(reps + 1):
        for key, task in tasks.items():
            arg = task.setup()
            gc.collect()
            start = time.process_time_ns()
            task.run(arg)
            elapsed = time.process_time_ns() - start
            if round_:  # round 0 is the warm-up
                samples[key].append(elapsed)
    return {key: int(statistics.median(values)) for key, values in samples.items()}


# ----------------------------------------------------------------------- streams


def run_stream(provider: str, client: str, stream: list[bytes]) -> bytes:
    translator = StreamTranslator(
        get_format(provider),
        get_format(client),
        Env(),
        model=MODEL,
        input_tokens=INPUT_TOKENS,
        issuer="bench-provider",  # as the engine runs it: signatures name their provider
    )
    feed = translator.feed
    out = [feed(event) for event in stream]
    out.append(translator.finish())
    return b"".join(out)


def check_stream(client: str, data: bytes) -> str | None:
    """A problem with the client's stream (decoded back), or None."""
    try:
        decoder = get_format(client).stream_decoder(Env())
        acc = Accumulator()
        acc.feed_all(decoder.feed(data))
        acc.feed_all(decoder.finish())
    except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
        return f"client stream does not decode: {exc!r}"
    kinds = [type(p).__name__ for p in acc.response.parts]
    if acc.error is not None or not acc.finished:
        return f"client stream ended badly: {acc.error}"
    if kinds.count("ToolCall") != 2 or "Text" not in kinds:
        return f"client stream lost content: parts {kinds}"
    return None


def stream_task(provider: str, client: str, stream: list[bytes]) -> Task:
    return Task(lambda _: run_stream(provider, client, stream))


def bench_streams(streams: dict[str, list[bytes]], reps: int) -> list[dict[str, Any]]:
    pairs = [(c, p) for c in FORMAT_NAMES for p in FORMAT_NAMES]
    tasks = {(c, p): stream_task(p, c, streams[p]) for c, p in pairs}
    medians = cpu_medians_ns(tasks, reps)
    rows = []
    for client, provider in pairs:
        stream, ns = streams[provider], medians[(client, provider)]
        rows.append(
            {
                "client": client,
                "provider": provider,
                "passthrough": client == provider,
                "events": len(stream),
                "events_per_s": len(stream) / (ns / 1e9),
                "us_per_chunk": ns / 1e3 / len(stream),
                "problem": check_stream(client, run_stream(provider, client, stream)),
            }
        )
    return rows


# ---------------------------------------------------------------------- requests


def parse_kwargs(fmt: str) -> dict[str, Any]:
    return GEMINI_PARSE if fmt == "gemini" else {}


def client_bodies(anthropic_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same conversation in each client format (made by our translators)."""
    bodies = {"anthropic": anthropic_body}
    for fmt in FORMAT_NAMES:
        if fmt != "anthropic":
            bodies[fmt] = translate_request("anthropic", fmt, copy.deepcopy(anthropic_body))
    return bodies


def batch_task(call: Callable[[Any], Any], body: dict[str, Any], n: int) -> Task:
    """``n`` calls, each on its own deep copy of ``body`` (made off the clock)."""

    def batch(copies: list[Any]) -> None:
        for item in copies:
            call(item)

    return Task(batch, lambda: [copy.deepcopy(body) for _ in range(n)])


def request_task(client: str, provider: str, body: dict[str, Any], n: int) -> Task:
    kw = parse_kwargs(client)
    return batch_task(lambda b: translate_request(client, provider, b, **kw), body, n)


def bench_requests(
    bodies: dict[str, dict[str, Any]], reps: int, n: int
) -> dict[tuple[str, str], float]:
    pairs = [(c, p) for c in FORMAT_NAMES for p in FORMAT_NAMES if c != p]
    tasks = {(c, p): request_task(c, p, bodies[c], n) for c, p in pairs}
    return {key: ns / 1e3 / n for key, ns in cpu_medians_ns(tasks, reps).items()}


# ----------------------------------------------------------------------- LiteLLM


class NetworkBlocked(OSError):
    pass


BLOCKED_CONNECTIONS: list[str] = []
"""What tried to connect anyway (reported: should stay empty)."""


def _block_network() -> None:
    """LiteLLM must not fetch anything (model cost map, beta headers, ...):
    every socket connection in this process fails from here on. The
    benchmark itself needs none (LiteLLM talks to an httpx.MockTransport)."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        where = [a for a in args if not isinstance(a, socket.socket)]
        BLOCKED_CONNECTIONS.append(repr(where)[:80])
        raise NetworkBlocked("bench_translate.py: network disabled")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    socket.create_connection = refuse  # type: ignore[assignment]


def load_litellm() -> tuple[Any, str | None]:
    """(litellm module, None) or (None, why not)."""
    os.environ.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS="True",
        LITELLM_LOCAL_BLOG_POSTS="True",
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        # Unreachable, should anything still try.
        LITELLM_MODEL_COST_MAP_URL="http://127.0.0.1:9/disabled",
        LITELLM_ANTHROPIC_BETA_HEADERS_URL="http://127.0.0.1:9/disabled",
        LITELLM_BLOG_POSTS_URL="http://127.0.0.1:9/disabled",
        LITELLM_AUTOROUTER_PRESETS_URL="http://127.0.0.1:9/disabled",
    )
    _block_network()
    try:
        import logging

        import litellm
    except ImportError as exc:
        return None, f"LiteLLM is not installed ({exc}); to compare: pip install -e '.[bench]'"
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.disable_streaming_logging = True
    litellm.callbacks = []
    litellm.success_callback = []
    litellm.failure_callback = []
    for name in ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm, None


def _litellm_version() -> str:
    from importlib.metadata import version

    try:
        return version("litellm")
    except Exception:  # noqa: BLE001
        return "?"


def _serialize_chunk(chunk: Any) -> bytes:
    """One chat chunk as LiteLLM's proxy writes it: ``data: <json>\\n\\n``.

    ``litellm.proxy.proxy_server._serialize_streaming_chunk`` needs the proxy
    extra (fastapi, orjson, ...); this is its logic: a fast hand-built dict for
    plain text chunks, else ``model_dump_json(exclude_none, exclude_unset)``.
    (json.dumps stands in for orjson.dumps on the fast path.)"""
    fast = _fast_serialize(chunk)
    body = (
        fast if fast is not None else chunk.model_dump_json(exclude_none=True, exclude_unset=True)
    )
    return b"data: " + body.encode() + b"\n\n"


_SLOW_DELTA_FIELDS = (
    "function_call",
    "tool_calls",
    "audio",
    "images",
    "annotations",
    "reasoning_content",
    "thinking_blocks",
    "provider_specific_fields",
    "refusal",
)


def _fast_serialize(chunk: Any) -> str | None:
    if (
        getattr(chunk, "provider_specific_fields", None) is not None
        or getattr(chunk, "system_fingerprint", None) is not None
        or getattr(chunk, "usage", None) is not None
    ):
        return None
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list) or len(choices) != 1:
        return None
    choice = choices[0]
    if getattr(choice, "logprobs", None) is not None or getattr(choice, "enhancements", None):
        return None
    delta = getattr(choice, "delta", None)
    if delta is None or any(getattr(delta, f, None) is not None for f in _SLOW_DELTA_FIELDS):
        return None
    delta_dict = {}
    if getattr(delta, "role", None) is not None:
        delta_dict["role"] = delta.role
    if getattr(delta, "content", None) is not None:
        delta_dict["content"] = delta.content
    choice_dict: dict[str, Any] = {"index": getattr(choice, "index", 0), "delta": delta_dict}
    if getattr(choice, "finish_reason", None) is not None:
        choice_dict["finish_reason"] = choice.finish_reason
    model = getattr(chunk, "model", None)
    if model is None:
        return None
    payload = {
        "id": getattr(chunk, "id", None),
        "object": getattr(chunk, "object", None),
        "created": getattr(chunk, "created", None),
        "model": model,
        "service_tier": getattr(chunk, "service_tier", None),
        "choices": [choice_dict],
    }
    for key in ("id", "object", "created", "service_tier"):
        if payload[key] is None:
            payload.pop(key)
    return json.dumps(payload, separators=(",", ":"))


def _sse_lines(stream: list[bytes]) -> Iterator[str]:
    for event in stream:
        yield from event.decode().splitlines()


class LiteLLMRunners:
    """LiteLLM doing our two directions and one request translation."""

    def __init__(self, litellm: Any) -> None:
        import httpx
        import openai
        from litellm.litellm_core_utils.thread_pool_executor import executor as logging_executor
        from litellm.llms.anthropic.chat.handler import ModelResponseIterator
        from litellm.llms.anthropic.pass_through.adapters.handler import (
            LiteLLMMessagesToCompletionTransformationHandler,
        )
        from litellm.llms.anthropic.pass_through.adapters.streaming_iterator import (
            AnthropicStreamWrapper,
        )
        from litellm.llms.anthropic.pass_through.adapters.transformation import AnthropicAdapter
        from litellm.llms.custom_httpx.http_handler import HTTPHandler
        from litellm.llms.openai.chat.gpt_transformation import (
            OpenAIChatCompletionStreamingHandler,
        )

        self.litellm = litellm
        self.handler = LiteLLMMessagesToCompletionTransformationHandler
        self.stream_wrapper = AnthropicStreamWrapper
        self.anthropic_iterator = ModelResponseIterator
        self.openai_iterator = OpenAIChatCompletionStreamingHandler
        self.adapter = AnthropicAdapter()
        self._serving: list[bytes] = []

        def serve(request: httpx.Request) -> httpx.Response:
            # One SSE event per read, as a network delivers them.
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=iter(self._serving)
            )

        # LiteLLM finishes each stream on its logging thread (success handler).
        # Its futures are waited for inside the clock, so that CPU is billed to
        # LiteLLM's run and not to whatever is timed next.
        self._background: list[Future[Any]] = []
        submit = logging_executor.submit

        def tracked_submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future = submit(fn, *args, **kwargs)
            self._background.append(future)
            return future

        logging_executor.submit = tracked_submit  # type: ignore[method-assign]

        transport = httpx.MockTransport(serve)
        self.openai_client = openai.OpenAI(
            api_key="sk-bench",
            base_url="http://bench.invalid/v1",
            http_client=httpx.Client(transport=transport),
            max_retries=0,
        )
        self.http_handler = HTTPHandler(client=httpx.Client(transport=transport))

    # anthropic client <- openai-chat provider

    def chat_to_anthropic_proxy(self, stream: list[bytes]) -> bytes:
        self._serving = stream
        out = self.handler.anthropic_messages_handler(
            max_tokens=1024,
            messages=[{"role": "user", "content": "Run the tests."}],
            model=f"openai/{LITELLM_OPENAI_MODEL}",
            stream=True,
            client=self.openai_client,
            api_key="sk-bench",
        )
        data = b"".join(out)
        self._drain()
        return data

    def chat_to_anthropic_adapter(self, stream: list[bytes]) -> bytes:
        parser = self.openai_iterator(_sse_lines(stream), sync_stream=True)
        # The parser yields a plain dict (GenericStreamingChunk) for
        # "[DONE]"; CustomStreamWrapper would drop it, so do we.
        chunks = (c for c in parser if not isinstance(c, dict))
        wrapper = self.stream_wrapper(completion_stream=chunks, model=LITELLM_OPENAI_MODEL)
        return b"".join(wrapper.anthropic_sse_wrapper())

    # openai-chat client <- anthropic provider

    def anthropic_to_chat_proxy(self, stream: list[bytes]) -> bytes:
        self._serving = stream
        response = self.litellm.completion(
            model=f"anthropic/{MODEL}",
            messages=[{"role": "user", "content": "Run the tests."}],
            max_tokens=1024,
            stream=True,
            stream_options={"include_usage": True},
            api_key="sk-bench",
            client=self.http_handler,
        )
        out = [_serialize_chunk(chunk) for chunk in response]
        out.append(b"data: [DONE]\n\n")
        self._drain()
        return b"".join(out)

    def _drain(self) -> None:
        wait(self._background)
        self._background.clear()

    def anthropic_to_chat_adapter(self, stream: list[bytes]) -> bytes:
        parser = self.anthropic_iterator(_sse_lines(stream), sync_stream=True)
        out = [_serialize_chunk(c) for c in parser if not isinstance(c, dict)]
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    # request: anthropic client -> openai-chat provider

    def request_adapter(self, body: dict[str, Any]) -> Any:
        return self.adapter.translate_completion_input_params_with_tool_mapping(body)

    def request_proxy(self, body: dict[str, Any]) -> Any:
        model = body.pop("model")
        return self.handler._prepare_completion_kwargs(model=f"openai/{model}", **body)


def _count_events(data: bytes) -> int:
    return sum(1 for part in data.split(b"\n\n") if part.strip())


def bench_litellm(
    litellm: Any, streams: dict[str, list[bytes]], body: dict[str, Any], reps: int, n: int
) -> list[dict[str, Any]]:
    """Ours, LiteLLM's proxy path and LiteLLM's adapter alone, timed
    round-robin on the same input (ours re-timed here, alongside)."""
    run = LiteLLMRunners(litellm)
    directions = {
        ("anthropic", "openai-chat"): (run.chat_to_anthropic_proxy, run.chat_to_anthropic_adapter),
        ("openai-chat", "anthropic"): (run.anthropic_to_chat_proxy, run.anthropic_to_chat_adapter),
    }
    # The request with the model an Anthropic client is routed to, for both.
    routed = dict(body, model=LITELLM_OPENAI_MODEL)
    tasks: dict[tuple[str, ...], Task] = {}
    outputs: dict[tuple[str, ...], int] = {}
    for (client, provider), (proxy, adapter) in directions.items():
        stream = streams[provider]
        tasks[(client, provider, "ours")] = stream_task(provider, client, stream)
        for name, fn in (("proxy", proxy), ("adapter", adapter)):
            outputs[(client, provider, name)] = _count_events(fn(stream))
            tasks[(client, provider, name)] = Task(lambda _, f=fn, s=stream: f(s))
    request = ("anthropic", "openai-chat", "request")
    tasks[(*request, "ours")] = request_task("anthropic", "openai-chat", routed, n)
    tasks[(*request, "proxy")] = batch_task(run.request_proxy, routed, n)
    tasks[(*request, "adapter")] = batch_task(run.request_adapter, routed, n)
    medians = cpu_medians_ns(tasks, reps)

    rows = []
    for client, provider in directions:
        events = len(streams[provider])
        row: dict[str, Any] = {"kind": "stream", "client": client, "provider": provider}
        row["unit"] = "events/s"
        for name in ("ours", "proxy", "adapter"):
            row[name] = events / (medians[(client, provider, name)] / 1e9)
        for name in ("proxy", "adapter"):
            row[f"{name}_ratio"] = row["ours"] / row[name]
            row[f"{name}_output_events"] = outputs[(client, provider, name)]
        rows.append(row)
    row = {"kind": "request", "client": "anthropic", "provider": "openai-chat"}
    row["unit"] = "us/request"
    for name in ("ours", "proxy", "adapter"):
        row[name] = medians[(*request, name)] / 1e3 / n
    for name in ("proxy", "adapter"):
        row[f"{name}_ratio"] = row[name] / row["ours"]
    rows.append(row)
    return rows


# ---------------------------------------------------------------------- reports


def _fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def markdown(
    rows: list[dict[str, Any]],
    requests: dict[tuple[str, str], float],
    lite: list[dict[str, Any]] | None,
) -> str:
    lines = [
        f"Streams: {rows[0]['events']:,} provider SSE events fed one per call; CPU time, "
        f"median. Target: <= {TARGET_US_PER_CHUNK:.0f} us/chunk.",
        "",
        "| client <- provider | events/s | us/chunk | us/request | target |",
        "|---|---:|---:|---:|:---:|",
    ]
    ordered = sorted(rows, key=lambda r: (r["passthrough"], r["client"], r["provider"]))
    for r in ordered:
        direction = f"{r['client']} <- {r['provider']}"
        if r["passthrough"]:
            direction += " (passthrough)"
            req = "-"
        else:
            req = f"{requests[(r['client'], r['provider'])]:,.0f}"
        ok = "ok" if r["us_per_chunk"] <= TARGET_US_PER_CHUNK else "**over**"
        lines.append(
            f"| {direction} | {_fmt_int(r['events_per_s'])} | {r['us_per_chunk']:.1f} "
            f"| {req} | {ok} |"
        )
    problems = [r for r in rows if r["problem"]]
    for r in problems:
        lines.append(f"\nWARNING {r['client']} <- {r['provider']}: {r['problem']}")
    if lite:
        lines += [
            "",
            f"Against LiteLLM {_litellm_version()} on the same input "
            f"(target: >= {TARGET_RATIO:.0f}x its events/s):",
            "",
            "| direction | unit | ours | LiteLLM proxy path | ratio | LiteLLM adapter only "
            "| ratio |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in lite:
            direction = f"{r['client']} <- {r['provider']} stream"
            if r["kind"] == "request":
                direction = f"{r['client']} -> {r['provider']} request"
            lines.append(
                f"| {direction} | {r['unit']} | {_fmt_int(r['ours'])} "
                f"| {_fmt_int(r['proxy'])} | {r['proxy_ratio']:.1f}x "
                f"| {_fmt_int(r['adapter'])} | {r['adapter_ratio']:.1f}x |"
            )
        lines.append("")
        lines.append(
            "Ratios: how many times faster ours is (events/s, or LiteLLM us / our us); "
            "ours re-timed alongside LiteLLM, round-robin."
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------- main


def profile(direction: str, streams: dict[str, list[bytes]]) -> None:
    import cProfile
    import pstats

    client, _, provider = direction.partition(":")
    if client not in FORMAT_NAMES or provider not in FORMAT_NAMES:
        sys.exit(f"--profile wants CLIENT:PROVIDER, formats: {', '.join(FORMAT_NAMES)}")
    stream = streams[provider]
    run_stream(provider, client, stream)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        run_stream(provider, client, stream)
    prof.disable()
    print(f"cProfile, 5 x {len(stream)} events, {client} client <- {provider} provider")
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fast smoke run (few repetitions)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--events", type=int, default=2000, help="events per stream")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    parser.add_argument(
        "--profile", metavar="CLIENT:PROVIDER", help="cProfile one stream direction and exit"
    )
    args = parser.parse_args(argv)

    reps, request_reps, n, lite_reps = (2, 2, 5, 1) if args.quick else (9, 7, 40, 5)
    streams = {fmt: provider_stream(fmt, args.events) for fmt in FORMAT_NAMES}
    if args.profile:
        profile(args.profile, streams)
        return 0

    body = claude_code_request()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    log("timing streams ...")
    rows = bench_streams(streams, reps)
    log("timing requests ...")
    requests = bench_requests(client_bodies(body), request_reps, n)

    lite = None
    lite_note = None
    if not args.no_litellm:
        litellm, lite_note = load_litellm()
        if litellm is not None:
            log("timing LiteLLM ...")
            lite = bench_litellm(litellm, streams, body, lite_reps, n)

    if args.json:
        print(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "quick": args.quick,
                    "repetitions": {
                        "streams": reps,
                        "requests": request_reps,
                        "litellm": lite_reps,
                    },
                    "request_bytes": len(json.dumps(body)),
                    "tools_bytes": len(json.dumps(body["tools"])),
                    "targets": {"us_per_chunk": TARGET_US_PER_CHUNK, "litellm_ratio": TARGET_RATIO},
                    "streams": rows,
                    "requests": [
                        {"client": c, "provider": p, "us_per_request": us}
                        for (c, p), us in requests.items()
                    ],
                    "litellm": (
                        {"version": _litellm_version(), "rows": lite} if lite else lite_note
                    ),
                    "blocked_network_attempts": BLOCKED_CONNECTIONS,
                },
                indent=2,
            )
        )
        return 0

    print(
        f"Python {platform.python_version()} ({platform.machine()}); request "
        f"{len(json.dumps(body)) / 1000:.0f} KB ({len(json.dumps(body['tools'])) / 1000:.0f} KB "
        f"of tools); repetitions: {reps} (streams), {request_reps} x {n} (requests)"
        f"{', ' + str(lite_reps) + ' (LiteLLM)' if lite else ''}; --quick: {args.quick}\n"
    )
    print(markdown(rows, requests, lite))
    if lite_note:
        print(f"\nLiteLLM comparison skipped: {lite_note}")
    if BLOCKED_CONNECTIONS:
        print(f"\nBlocked network attempts: {BLOCKED_CONNECTIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
