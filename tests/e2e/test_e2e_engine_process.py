"""The engine in its own process (the default): started with mitmdump, its log
in mitmdump's, restarted when it dies, never left behind; and the in-process
mode still serves the same calls."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    Mitmdump,
    client_ssl_context,
    copy_confdir,
    e2e_config,
    provider_key,
    start_mitmdump,
    write_config,
)
from fakeprovider import DEFAULT_REPLY, FakeProvider, Reply
from fakeprovider.sdk import Conn, call
from google.genai import errors as genai_errors
from mitmproxy import http as mhttp
from mitmproxy import io

pytestmark = pytest.mark.e2e

CHILD = re.compile(r"omniroute engine \(pid (\d+)\) listening at (http://\S+)")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped yet) is gone as far as a user can tell
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def children(mitm: Mitmdump) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for line in mitm.lines if (m := CHILD.search(line))]


def proxied(mitm: Mitmdump) -> Conn:
    return Conn(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), api_key=CLIENT_KEY)


@pytest.fixture
def own_mitm(tmp_path, ca_dir, e2e_provider) -> Iterator[Mitmdump]:
    """A mitmdump of its own: these tests kill things."""
    proc = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port))
    yield proc
    proc.stop()


def test_engine_is_a_child_whose_log_shows_in_mitmdumps(own_mitm, fake):
    fake.script([Reply(text="from the child")])
    with proxied(own_mitm) as conn:
        assert call(conn, "anthropic", "to-openai-chat", stream=True).text == "from the child"
    [(pid, url)] = children(own_mitm)
    assert url.startswith("http://127.0.0.1:") and alive(pid)
    # the engine's own line for the call, relayed into mitmdump's log
    assert wait(lambda: "-> fake-openai-chat/upstream-openai-chat 200" in own_mitm.output()), \
        own_mitm.output()
    own_mitm.stop()  # a clean stop stops the engine with it
    assert wait(lambda: not alive(pid), 10)


def test_sigkill_of_mitmdump_leaves_no_engine_behind(own_mitm):
    assert wait(lambda: children(own_mitm)), own_mitm.output()
    [(pid, _)] = children(own_mitm)
    assert own_mitm.proc is not None
    os.kill(own_mitm.proc.pid, signal.SIGKILL)
    assert wait(lambda: not alive(pid), 10), "the engine outlived a killed mitmdump"


def test_a_dead_engine_is_restarted_and_calls_work_again(own_mitm, fake):
    assert wait(lambda: children(own_mitm)), own_mitm.output()
    [(pid, _)] = children(own_mitm)
    os.kill(pid, signal.SIGKILL)
    assert wait(lambda: len(children(own_mitm)) == 2), own_mitm.output()
    assert "omniroute engine exited" in own_mitm.output()
    fake.script([Reply(text="back again")])
    with proxied(own_mitm) as conn:
        assert call(conn, "openai-chat", "to-anthropic", stream=True).text == "back again"


def test_in_process_mode_serves_the_same_calls(tmp_path, ca_dir, e2e_provider, fake):
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port),
                          "--set", "omniroute_engine_mode=inprocess")
    try:
        fake.script([Reply(text="in one process"), Reply(text="still")])
        with proxied(mitm) as conn:
            assert call(conn, "anthropic", "to-openai-chat", stream=True).text == "in one process"
            assert call(conn, "gemini", "to-anthropic", stream=False).text == "still"
        assert not children(mitm)
        assert "omniroute engine listening at http://127.0.0.1:" in mitm.output()
    finally:
        mitm.stop()


# --------------------------------------------------------------- the engine killed under load

STREAM_URLS = {
    "anthropic": "https://api.anthropic.com/v1/messages",
    "openai-chat": "https://api.openai.com/v1/chat/completions",
    "openai-responses": "https://api.openai.com/v1/responses",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models/"
              "to-openai-chat:streamGenerateContent?alt=sse",
}
SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)
# what ends each format's stream once the front has added its error event
ERROR_TAILS = {
    "anthropic": b"event: error\ndata: ",
    "openai-chat": b"data: [DONE]",
    "openai-responses": b"event: response.failed\ndata: ",
    "gemini": b'"code":502',
}


def stream_request(fmt: str) -> tuple[dict, dict]:
    if fmt == "gemini":
        return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {
            "x-goog-api-key": CLIENT_KEY}
    if fmt == "openai-responses":
        body: dict = {"model": "to-openai-chat", "input": "hi", "stream": True}
    else:
        body = {"model": "to-openai-chat", "max_tokens": 500, "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}
    if fmt == "anthropic":
        return body, {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    return body, {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture
def lone(tmp_path, ca_dir) -> Iterator[tuple[Mitmdump, FakeProvider]]:
    """A mitmdump and a fake provider of their own: no request of another test
    (a late retry, a stream still ending) can reach this provider or its store."""
    fp = FakeProvider(accept_keys=[provider_key(name) for name in FORMATS]).start()
    proc = start_mitmdump(tmp_path, ca_dir, e2e_config(fp.port))
    yield proc, fp
    proc.stop()
    fp.stop()


def test_a_killed_engine_ends_calls_in_their_format_and_new_calls_wait_for_its_restart(lone):
    own_mitm, fake = lone
    """kill -9 of the engine under load: every stream in flight ends with its
    format's error event (raw bytes, and the official SDKs raise their own
    error), calls made right after the kill are answered by the restarted
    engine, and every call that reached an engine has a usage row."""
    [(pid, _)] = children(own_mitm)
    # ~90 s: no stream may end before the kill, however long a loaded machine
    # takes to start all eight (the wait below allows 30 s)
    deltas = [f"w{i} " for i in range(1800)]
    long = Reply(text="".join(deltas), text_deltas=deltas, delay_between=0.05)
    fake.script([long] * 8)
    http = httpx.Client(proxy=own_mitm.url, verify=client_ssl_context(own_mitm.confdir),
                        timeout=60)
    streams = {}
    for fmt, url in STREAM_URLS.items():
        body, headers = stream_request(fmt)
        resp = http.send(http.build_request("POST", url, json=body, headers=headers), stream=True)
        assert resp.status_code == 200, resp.read()
        chunks = resp.iter_raw()
        streams[fmt] = (resp, chunks, next(chunks))  # content is flowing

    def sdk_stream(fmt: str) -> object:
        with proxied(own_mitm) as conn:
            try:
                return call(conn, fmt, "to-openai-chat", stream=True)
            except SDK_ERRORS as exc:
                return exc

    pool = concurrent.futures.ThreadPoolExecutor(8)
    sdk_calls = [pool.submit(sdk_stream, fmt) for fmt in FORMATS]
    assert wait(lambda: len(fake.model_calls()) == 8, 30), own_mitm.output()

    os.kill(pid, signal.SIGKILL)

    def after_kill(fmt: str) -> str:
        with proxied(own_mitm) as conn:  # max_retries=0: no SDK retry hides a failure
            return call(conn, fmt, "to-openai-chat", stream=fmt != "gemini").text

    after = [pool.submit(after_kill, fmt) for fmt in FORMATS]
    for fmt, (resp, chunks, first) in streams.items():
        rest = b"".join(chunks)  # a cut chunked body would raise here
        whole = first + rest
        assert b"the engine stopped before this answer was complete" in whole, (fmt, whole[-500:])
        assert ERROR_TAILS[fmt] in whole[-2000:], (fmt, whole[-800:])
        resp.close()
    http.close()
    for future in sdk_calls:  # an SDK error from the format's own error, never a cut
        outcome = future.result(60)
        assert isinstance(outcome, SDK_ERRORS), outcome
        assert "the engine stopped" in str(outcome), outcome
    assert [f.result(60) for f in after] == [DEFAULT_REPLY.text] * 4
    assert len(children(own_mitm)) == 2, own_mitm.output()
    pool.shutdown()

    own_mitm.stop()  # the engine and the front flush their rows
    database = own_mitm.confdir / "data" / "omniroute.sqlite"
    db = sqlite3.connect(database)
    try:
        rows = db.execute("SELECT status, error_class, route FROM requests").fetchall()
        detail = db.execute("SELECT id, time, status, client_format, client_app, total_ms, "
                            "error FROM requests").fetchall()
    finally:
        db.close()
    lost = [r for r in rows if r[1] == "engine_lost"]
    answered = [r for r in rows if r[0] == 200]
    assert len(lost) == 8 and all(r[0] == 502 and "engine lost" in r[2] for r in lost), rows
    # the four calls after the kill (official SDKs), one row each, and nothing else
    assert len(answered) == 4 and len(rows) == 12, detail
    assert all(d[4] != "other" for d in detail if d[2] == 200), detail


KILLER = Path(__file__).resolve().parent / "engine_killer.py"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_call_sent_to_an_engine_that_just_died_waits_for_its_restart(
        tmp_path, ca_dir, e2e_provider, fake, fmt):
    """The front routed the call, then the engine died before mitmproxy
    connected (the front had not seen it die): the refused connection sends
    the call to the restarted engine, never mitmproxy's HTML 502."""
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port), "-s", str(KILLER))
    try:
        fake.script([Reply(text="from the new engine")])
        body, headers = stream_request(fmt)
        body.pop("stream", None)
        url = STREAM_URLS[fmt].replace(":streamGenerateContent?alt=sse", ":generateContent")
        with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                          timeout=60) as http:
            resp = http.post(url, json=body, headers={**headers, "x-test-kill-engine": "1"})
        assert resp.status_code == 200, resp.text[:500]
        assert "from the new engine" in resp.text
        assert len(children(mitm)) == 2, mitm.output()
        assert "waited for the engine's restart" in mitm.output()  # the refused connection
    finally:
        mitm.stop()


@pytest.mark.parametrize("fmt,stream", [("anthropic", True), ("gemini", False)])
def test_a_call_the_dying_engine_took_but_never_routed_goes_to_its_restart(
    tmp_path, ca_dir, e2e_provider, fake, fmt, stream
):
    """kill -9 of the engine under load: until its sockets close, the kernel
    still takes connections and requests for it. Such a call reached the
    engine and got no response head, but no code of the engine ran for it:
    it never began routing it, so no provider saw it. The front sends it to
    the restarted engine: the client gets its answer, the provider one call."""
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port), "-s", str(KILLER))
    try:
        fake.script([Reply(text="from the new engine", text_deltas=["from the new engine"])])
        body, headers = stream_request(fmt)
        url = STREAM_URLS[fmt]
        if not stream:
            body.pop("stream", None)
            url = url.replace(":streamGenerateContent?alt=sse", ":generateContent")
        with httpx.Client(
            proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=60
        ) as http:
            resp = http.post(
                url, json=body, headers={**headers, "x-test-kill-engine": "unanswered"}
            )
        assert resp.status_code == 200, resp.text[:500]
        assert "from the new engine" in resp.text
        assert len(fake.model_calls()) == 1
        assert len(children(mitm)) == 2, mitm.output()
        assert "the engine died before routing it; sent to the restarted engine" in mitm.output()
    finally:
        mitm.stop()


def test_a_call_the_engine_began_routing_is_never_sent_twice(tmp_path, ca_dir, e2e_provider, fake):
    """The engine dies while a provider holds the call (no response head yet):
    that call may be spent, so the front does not send it again. The client
    gets a 502 in its format; the provider saw the call once."""
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port))
    try:
        [(pid, _)] = children(mitm)
        fake.script([Reply(text="too late", delay_first_byte=5), Reply(text="sent twice")])

        def sdk_call() -> object:
            with proxied(mitm) as conn:
                try:
                    return call(conn, "anthropic", "to-openai-chat", stream=True)
                except SDK_ERRORS as exc:
                    return exc

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(sdk_call)
            assert wait(lambda: len(fake.model_calls()) == 1, 30), mitm.output()
            os.kill(pid, signal.SIGKILL)
            got = outcome.result(60)
        assert isinstance(got, anthropic.APIStatusError), got
        assert got.status_code == 502 and "the engine stopped" in str(got), got
        # the front chose before it answered: no resend can follow the 502
        assert len(fake.model_calls()) == 1
        assert "sent to the restarted engine" not in mitm.output()
    finally:
        mitm.stop()


def test_an_engine_that_cannot_be_reached_is_an_error_in_the_clients_format(
        tmp_path, ca_dir, e2e_provider, fake):
    """An external engine that is down: a 502 in the client's format, not
    mitmproxy's HTML page."""
    secret = tmp_path / "engine.secret"
    secret.write_text("s3cret\n")
    mitm = Mitmdump(write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port)),
                    copy_confdir(ca_dir, tmp_path / "confdir"),
                    "--set", "omniroute_engine_url=http://127.0.0.1:9",  # discard: nothing there
                    "--set", f"omniroute_engine_secret_file={secret}")
    mitm.start(engine=False)  # an external engine logs no start of its own
    try:
        with proxied(mitm) as conn:
            for fmt in FORMATS:
                with pytest.raises(SDK_ERRORS) as info:
                    call(conn, fmt, "to-openai-chat", stream=fmt != "gemini")
                assert "cannot reach the engine at http://127.0.0.1:9" in str(info.value), fmt
                assert getattr(info.value, "status_code", getattr(info.value, "code", 0)) == 502
    finally:
        mitm.stop()
    assert "s3cret" not in mitm.output()


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux only (memfd)")
def test_long_bodies_reach_the_engine_child_whole_and_the_saved_flow_keeps_them(
    tmp_path, ca_dir, e2e_provider, fake
):
    """A long conversation goes to the engine child through the shared memory
    both were given at its start (engine.core.arena): the provider gets each
    body whole, more bodies than the arena holds at once pass one after
    another (each place freed), and the saved flow shows the body the client
    sent, with no x-omniroute header."""
    saved = tmp_path / "flows.mitm"
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port), "-w", str(saved))
    try:
        [(pid, _)] = children(mitm)
        assert "memfd:omniroute-bodies" in Path(f"/proc/{pid}/maps").read_text()
        fake.script([Reply(text=f"answer {i}", text_deltas=[f"answer {i}"]) for i in range(40)])
        headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
        sent = []
        with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                          timeout=60) as http:  # fmt: skip
            for i in range(40):  # 40 x 2 MB: more than the arena's 64 MiB
                body = {"model": "to-anthropic", "max_tokens": 10, "stream": True, "messages": [
                    {"role": "user", "content": f"turn {i} " + "word " * 400_000}]}
                sent.append(body)
                resp = http.post(STREAM_URLS["anthropic"], json=body, headers=headers)
                assert resp.status_code == 200 and f"answer {i}" in resp.text, resp.text[:300]
        calls = fake.model_calls()
        assert [c.body["messages"] for c in calls] == [b["messages"] for b in sent]
    finally:
        mitm.stop()
    with saved.open("rb") as f:
        flows = [flow for flow in io.FlowReader(f).stream() if isinstance(flow, mhttp.HTTPFlow)]
    assert len(flows) == 40
    for flow, body in zip(flows, sent, strict=True):
        assert json.loads(flow.request.content) == body
        assert flow.request.headers["content-length"] == str(len(flow.request.raw_content))
        assert not [n for n in flow.request.headers if n.lower().startswith("x-omniroute-")]
