"""Edges found by probing, through a real mitmdump:

- content of a type the translators do not know is a 400 in the client's
  format on a cross-format route (never an answer to a prompt the client did
  not send); the same format passes it through; a search result reaches a
  provider of another format as text;
- a stream the client leaves is in the usage store with its target, the
  estimated input and the output sent so far;
- flows saved with ``mitmdump -w`` show the URL the client called and no
  header between the front and the engine;
- a client that never completes its request head is closed after
  ``omniroute_header_timeout``; complete requests are not affected.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import anthropic
import httpx
import pytest
from e2e_harness import (
    CLIENT_KEY,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    start_mitmdump,
)
from fakeprovider import Reply
from mitmproxy import http, io

pytestmark = pytest.mark.e2e

UNKNOWN = {"type": "hologram", "data": "what is the capital of France?"}
SEARCH = {
    "type": "search_result",
    "source": "https://docs.example/paris",
    "title": "Paris facts",
    "content": [{"type": "text", "text": "Paris is the capital of France."}],
}


# ----------------------------------------------------------- unknown content


def test_an_unknown_block_on_a_cross_format_route_is_a_400_naming_it(conn, fake):
    fake.script([Reply(text="an answer to nothing")])
    with pytest.raises(anthropic.BadRequestError) as caught:
        conn.anthropic().messages.create(
            model="to-openai-chat", max_tokens=50,
            messages=[{"role": "user", "content": [UNKNOWN]}],  # type: ignore[list-item]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "'hologram'" in message and "messages[0].content[0]" in message
    assert fake.model_calls() == []


def test_an_unknown_block_passes_through_to_the_same_format(conn, fake):
    fake.script([Reply(text="the provider's own answer")])
    got = conn.anthropic().messages.create(
        model="to-anthropic", max_tokens=50,
        messages=[{"role": "user", "content": [UNKNOWN]}],  # type: ignore[list-item]
    )
    assert got.content[0].text == "the provider's own answer"  # type: ignore[union-attr]
    (sent,) = fake.model_calls()
    assert sent.body["messages"][0]["content"] == [UNKNOWN]


def test_a_search_result_reaches_a_chat_provider_as_text(conn, fake):
    fake.script([Reply(text="Paris")])
    got = conn.anthropic().messages.create(
        model="to-openai-chat", max_tokens=50,
        messages=[{"role": "user", "content": [  # type: ignore[list-item]
            SEARCH, {"type": "text", "text": "What is the capital?"}]}],
    )
    assert got.content[0].text == "Paris"  # type: ignore[union-attr]
    (sent,) = fake.model_calls()
    first = sent.body["messages"][0]["content"][0]
    assert first["type"] == "text"
    for piece in ("Paris facts", "https://docs.example/paris", "Paris is the capital of France."):
        assert piece in first["text"]


# ----------------------------------------------------------- cancelled streams


def store_rows(mitm: Mitmdump, where: str, params: tuple[object, ...] = ()) -> list[dict]:
    """Rows of the usage store matching ``where``, once there are any (the
    store is written by a thread, after the request ends)."""
    path = Path(mitm.confdir) / "data" / "omniroute.sqlite"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            with closing(sqlite3.connect(path)) as db:
                db.row_factory = sqlite3.Row
                try:
                    found = db.execute(f"SELECT * FROM requests WHERE {where}", params).fetchall()
                except sqlite3.OperationalError:  # the table is not there yet
                    found = []
            if found:
                return [dict(r) for r in found]
        time.sleep(0.1)
    raise AssertionError(f"no row where {where} {params} in the store")


@pytest.mark.parametrize("model", ["to-openai-chat", "to-anthropic"])
def test_a_stream_the_client_left_is_recorded_with_its_target_and_tokens(conn, fake, mitm, model):
    reply = Reply.bench(3000, delay_between=0.02)  # a minute: it cannot end while we look
    fake.script([reply])
    prompt = f"a prompt long enough to count for {model}: " + "lorem ipsum dolor " * 40
    with conn.anthropic().messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    where = "requested_model = ? AND error = 'client disconnected'"
    (row,) = store_rows(mitm, where, (model,))
    upstream = model.replace("to-", "")
    assert (row["provider"], row["upstream_model"]) == (f"fake-{upstream}", f"upstream-{upstream}")
    assert row["key_id"] and row["target"] == f"fake-{upstream}/upstream-{upstream}"
    assert row["estimated"] == 1 and row["input_tokens"] > 0 and row["output_tokens"] > 0


# ------------------------------------------------------------- saved flows


def test_saved_flows_show_what_the_client_called(tmp_path, ca_dir, e2e_provider, fake):
    saved = tmp_path / "flows.mitm"
    proxy = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port), "-w", str(saved))
    chat = "https://api.openai.com/v1/chat/completions"
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}

    def body(model: str) -> dict:
        return {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    slow = Reply(text="too late for the client", delay_first_byte=30)
    fake.script([Reply(text="routed and answered"), slow])
    try:
        verify = client_ssl_context(proxy.confdir)
        with httpx.Client(proxy=proxy.url, verify=verify, timeout=20) as client:
            ok = client.post(chat, json=body("to-anthropic"), headers=auth)
            assert ok.status_code == 200 and "routed and answered" in ok.text
            failed = client.post(chat, json=body("no-such-model"), headers=auth)  # -> dead
            assert failed.status_code >= 500
            page = client.get("http://omniroute/")
            assert page.status_code == 200
        # a client that gives up before the answer: the flow ends in an error
        impatient = httpx.Timeout(20, read=1)
        with httpx.Client(proxy=proxy.url, verify=verify, timeout=impatient) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.post(chat, json=body("to-gemini"), headers=auth)
        assert fake.wait_for(lambda: any(r.reply is slow for r in fake.model_calls()), 10)
    finally:
        proxy.stop()
    assert not proxy.blocked()
    with saved.open("rb") as f:
        flows = [flow for flow in io.FlowReader(f).stream() if isinstance(flow, http.HTTPFlow)]
    urls = sorted(flow.request.url for flow in flows)
    assert urls == ["http://omniroute/", chat, chat, chat], urls
    errored = [flow for flow in flows if flow.error is not None]
    assert len(errored) == 1 and errored[0].request.url == chat
    for flow in flows:
        names = [*flow.request.headers.keys(),
                 *(flow.response.headers.keys() if flow.response else ())]
        assert not [n for n in names if n.lower().startswith("x-omniroute-")], (flow, names)
        assert flow.request.host in ("api.openai.com", "omniroute")
        assert flow.request.headers.get("host", flow.request.host) in (
            "api.openai.com", "omniroute")


# ----------------------------------------------------------- header timeout

HALF_HEADS = {
    "connect": b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.open",
    "plain": b"GET http://example.com/ HTTP/1.1\r\nHost: exam",
}


@pytest.fixture(scope="module")
def impatient(tmp_path_factory, ca_dir, e2e_provider):
    """mitmdump giving clients 1 s to complete a request head."""
    proxy = start_mitmdump(tmp_path_factory.mktemp("heads"), ca_dir,
                           e2e_config(e2e_provider.port),
                           "--set", "omniroute_header_timeout=1")  # fmt: skip
    yield proxy
    proxy.stop()
    assert not proxy.blocked()


def closed_by_proxy(sock: socket.socket) -> bool:
    """True when the proxy closes the connection (EOF) before 30 s of waiting;
    whatever the proxy answers first (an error page) is read and skipped."""
    sock.settimeout(30)  # many times the 1 s timeout: a loaded machine is not a failure
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize("head", HALF_HEADS, ids=list(HALF_HEADS))
def test_a_half_sent_request_head_is_closed_after_the_timeout(impatient, head):
    with socket.create_connection(("127.0.0.1", impatient.port)) as sock:
        sock.sendall(HALF_HEADS[head])
        assert closed_by_proxy(sock)
    deadline = time.monotonic() + 10  # the log line may follow the close the client sees
    while "no complete request head within 1 s" not in impatient.output():
        assert time.monotonic() < deadline, impatient.output()[-2000:]
        time.sleep(0.05)


def test_complete_requests_still_work_with_a_header_timeout(impatient, fake):
    fake.script([Reply(text="answered in full"), Reply(text="and again")])
    verify = client_ssl_context(impatient.confdir)
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "to-anthropic", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(proxy=impatient.url, verify=verify, timeout=20) as client:
        for expected in ("answered in full", "and again"):  # the second on a kept-alive tunnel
            got = client.post("https://api.openai.com/v1/chat/completions", json=body,
                              headers=auth)  # fmt: skip
            assert got.status_code == 200 and expected in got.text
