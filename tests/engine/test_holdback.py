"""A stream's first content leaves as soon as it is translated: not behind the
rest of a read that brought more (a fast provider's whole answer at once)."""

from __future__ import annotations

import asyncio
import json

import pytest
from omniroute_mitm.engine.core.errors import UpstreamError
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.stream.holdback import ContentWatch, HoldBack
from omniroute_mitm.engine.stream.reply import ClientReply
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import counting_env

pytestmark = pytest.mark.anyio


class Sink:
    """Flushes what was written at the loop's next turn, as the engine's handler does."""

    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.log = log
        self.committed = False
        self._written = b""
        self._soon = False

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.committed = True

    async def send(self, data: bytes) -> None:
        self._written += data
        if not self._soon:
            self._soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._soon = False
        self.log.append(("flush", self._written))
        self._written = b""

    def abort(self) -> None:
        pass


def chat(*deltas: dict) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": d}]} for d in deltas]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)


def _chat_to_anthropic(
    log: list[tuple[str, bytes]],
) -> tuple[StreamTranslator, HoldBack, ClientReply]:
    """An OpenAI Chat stream translated for an Anthropic client, held back
    until its first content; what reaches the client goes on ``log``."""
    anthropic = get_format("anthropic")
    reply = ClientReply(Sink(log), Record(1, "anthropic", "generate"), lambda: anthropic,
                        sse=True, redact=str)  # fmt: skip
    watch = ContentWatch(None)
    translator = StreamTranslator(get_format("openai-chat"), anthropic, counting_env(),
                                  model="m", on_events=watch)  # fmt: skip
    return translator, HoldBack(reply, translator, watch, lambda err: True), reply


async def test_the_first_content_of_a_read_goes_out_before_the_rest_is_translated() -> None:
    log: list[tuple[str, bytes]] = []
    translator, held, _ = _chat_to_anthropic(log)

    def feed(chunk: bytes) -> bytes:
        log.append(("feed", chunk))
        return translator.feed(chunk)

    read = chat({"role": "assistant", "content": ""}, {"content": "Hello"},
                *({"content": f" w{i}"} for i in range(20)))  # fmt: skip
    await held.take(read, feed)
    await asyncio.sleep(0)
    first_flush = next(i for i, (what, _) in enumerate(log) if what == "flush")
    assert b"Hello" in log[first_flush][1]  # the preamble and the first text, together
    fed = b"".join(data for what, data in log[:first_flush] if what == "feed")
    assert b"w0" not in fed  # none of the rest was translated before it left
    assert b"".join(data for what, data in log if what == "feed") == read  # all of it after
    assert b"w19" in b"".join(data for what, data in log if what == "flush")


async def test_an_error_before_content_in_the_same_read_still_falls_back() -> None:
    log: list[tuple[str, bytes]] = []
    translator, held, reply = _chat_to_anthropic(log)
    error = b'data: {"error":{"message":"overloaded","type":"overloaded_error"}}\n\n'
    with pytest.raises(UpstreamError):
        await held.take(chat({"role": "assistant", "content": ""}) + error, translator.feed)
    await asyncio.sleep(0)
    assert not reply.content_sent and log == []  # nothing shown: another target may answer
