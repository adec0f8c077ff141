"""The front's record client (flow comments): kept-alive connections that the
engine closed meanwhile, and an engine that does not answer."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from omniroute_mitm.front.record_pages import RecordClient

pytestmark = pytest.mark.anyio


async def serve(answer_then_close: bool, hang: bool = False):
    """An engine stand-in: answers each GET with its record id; optionally
    closes every connection after one answer (without saying so), or hangs."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            if hang:
                await asyncio.sleep(3600)
            record = int(head.split(b" ")[1].rsplit(b"/", 1)[1])
            served.append(record)
            body = json.dumps({"id": record, "summary": f"[{record} in / 1 out]"}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            if answer_then_close:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", served


async def test_a_connection_the_engine_closed_is_replaced_and_the_record_still_comes():
    server, url, served = await serve(answer_then_close=True)
    client = RecordClient()
    try:
        first = await client.get(url, "s", 1)
        await asyncio.sleep(0.05)  # the engine's close has reached the kept connection
        second = await client.get(url, "s", 2)
    finally:
        client.close()
        server.close()
    assert first is not None and first["id"] == 1
    assert second is not None and second["summary"] == "[2 in / 1 out]"
    assert served == [1, 2]


async def test_an_engine_that_does_not_answer_costs_the_timeout_and_says_so(caplog):
    server, url, _ = await serve(answer_then_close=False, hang=True)
    client = RecordClient(timeout=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="omniroute"):
            assert await client.get(url, "secret-value", 7) is None
    finally:
        client.close()
        server.close()
    assert "record 7" in caplog.text and "secret-value" not in caplog.text


async def test_record_lines_are_taken_whether_they_come_before_or_after_the_flow_ends():
    """An engine child announces each call's record as it ends (engine.serve.
    announce): the flow's comment takes it from the line, which may come just
    before or just after the answer's last bytes; none in time: None (the
    front then asks over HTTP)."""
    from omniroute_mitm.front.record_pages import RecordLines

    lines = RecordLines(keep=2)
    lines.add("early", {"id": 1})
    assert await lines.take("early", 0.01) == {"id": 1}
    waiting = asyncio.ensure_future(lines.take("late", 5))
    await asyncio.sleep(0)
    lines.add("late", {"id": 2})
    assert await waiting == {"id": 2}
    assert await lines.take("never", 0.01) is None
    for i in range(3):  # nobody took them: the last two kept
        lines.add(f"c{i}", {"id": i})
    assert await lines.take("c0", 0.01) is None and await lines.take("c2", 0.01) == {"id": 2}


def test_a_childs_record_line_reaches_the_front_parsed():
    from omniroute_mitm.engine.core.headers import RECORD_LINE
    from omniroute_mitm.front.process import EngineProcess

    child = EngineProcess("unused.yaml")
    got: list[tuple[str, dict]] = []
    child.on_record = lambda call, record: got.append((call, record))
    child._line(f'{RECORD_LINE}abc-1 {{"id":7,"summary":"[1 in / 2 out]"}}')
    child._line(f"{RECORD_LINE}abc-2 not json")  # (ignored, never logged as an error)
    assert got == [("abc-1", {"id": 7, "summary": "[1 in / 2 out]"})]
