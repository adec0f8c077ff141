"""Stream test helpers shared by the format suites: encode canonical events
with a format's encoder, cut bytes into pieces, decode them back."""

from __future__ import annotations

import random
from collections.abc import Iterable

from omniroute_mitm.translators.base import WireFormat
from omniroute_mitm.translators.canonical import Env, StreamEvent, counting_env
from omniroute_mitm.translators.stream import Accumulator


def encode(
    fmt: WireFormat, events: Iterable[StreamEvent], env: Env | None = None, **options: object
) -> bytes:
    encoder = fmt.stream_encoder(env or counting_env(), **options)  # type: ignore[arg-type]
    return b"".join(encoder.feed(e) for e in events) + encoder.finish()


def pieces(data: bytes, mode: str, seed: int = 0) -> list[bytes]:
    """``data`` whole, byte by byte, or cut at random points."""
    if mode == "whole":
        return [data]
    if mode == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, max(1, len(data) // 37))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def cut(data: bytes, splits: list[int] | None) -> list[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *(splits or []), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def decode(fmt: WireFormat, chunks: Iterable[bytes], env: Env | None = None) -> list[StreamEvent]:
    decoder = fmt.stream_decoder(env or counting_env())
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.finish()


def accumulate(events: Iterable[StreamEvent]) -> Accumulator:
    acc = Accumulator()
    acc.feed_all(list(events))
    return acc
