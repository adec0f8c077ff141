"""Limits through a real mitmdump: bodies too large, too many large bodies at
once, a header block too large, JSON nested too deeply. Each gets an error in
the client's own format with a message (never mitmproxy's HTML page, an empty
400 or a traceback), and memory stays bounded: an oversized body is never
held whole by mitmdump nor by the engine."""

from __future__ import annotations

import concurrent.futures
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_harness import CLIENT_KEY, Mitmdump, client_ssl_context, e2e_config, start_mitmdump
from fakeprovider import Reply

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
CHILD = re.compile(r"omniroute engine \(pid (\d+)\) listening at ")

# client format -> (URL on the real host, model field or None (in the URL))
CALLS = {
    "anthropic": "https://api.anthropic.com/v1/messages",
    "openai-chat": "https://api.openai.com/v1/chat/completions",
    "openai-responses": "https://api.openai.com/v1/responses",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models/to-openai-chat:generateContent",
}


def body(fmt: str, pad: int = 0, **extra: object) -> bytes:
    """A small request of ``fmt`` (to the fake provider), padded to ``pad`` bytes."""
    if fmt == "gemini":
        data: dict = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    elif fmt == "openai-responses":
        data = {"model": "to-openai-chat", "input": "hi"}
    else:
        data = {"model": "to-openai-chat", "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}]}
    data.update(extra)
    raw = json.dumps(data).encode()
    if pad > len(raw):  # a long first field: still one valid JSON object
        filler = b'{"pad":"' + b"x" * (pad - len(raw) - 10) + b'",'
        raw = filler + raw[1:]
    return raw


def headers(fmt: str) -> dict[str, str]:
    if fmt == "anthropic":
        return {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01",
                "content-type": "application/json"}
    if fmt == "gemini":
        return {"x-goog-api-key": CLIENT_KEY, "content-type": "application/json"}
    return {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}


def client(mitm: Mitmdump) -> httpx.Client:
    return httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=120)


def error_message(fmt: str, resp: httpx.Response) -> str:
    """The message of an error response, checked to be in ``fmt``'s own shape."""
    assert resp.headers["content-type"].startswith("application/json"), resp.text[:300]
    data = resp.json()
    if fmt == "anthropic":
        assert data["type"] == "error" and isinstance(data["error"]["type"], str), data
        return str(data["error"]["message"])
    if fmt == "gemini":
        assert data["error"]["code"] == resp.status_code and data["error"]["status"], data
        return str(data["error"]["message"])
    assert isinstance(data["error"]["type"], str), data  # both OpenAI APIs
    return str(data["error"]["message"])


def engine_pid(mitm: Mitmdump) -> int:
    [pid] = [int(m.group(1)) for line in mitm.lines if (m := CHILD.search(line))]
    return pid


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def no_traceback(mitm: Mitmdump) -> None:
    assert "Traceback" not in mitm.output(), mitm.output()[-5000:]


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider) -> Iterator[Mitmdump]:
    """Default limits."""
    proc = start_mitmdump(tmp_path_factory.mktemp("limits"), ca_dir,
                          e2e_config(e2e_provider.port))
    yield proc
    proc.stop()
    assert not proc.blocked()


@pytest.fixture(scope="module")
def roomy(tmp_path_factory, ca_dir, e2e_provider) -> Iterator[Mitmdump]:
    """The front lets 100 MiB through (the engine's own limit is 64 MiB); the
    engine holds at most 1 MiB of bodies at once."""
    proc = start_mitmdump(tmp_path_factory.mktemp("roomy"), ca_dir, e2e_config(e2e_provider.port),
                          "--set", "omniroute_max_body=100m",
                          "--set", "omniroute_body_memory=1m")
    yield proc
    proc.stop()
    assert not proc.blocked()


def test_oversized_bodies_get_a_413_in_format_and_are_never_held_whole(mitm, fake):
    front, engine = mitm.proc.pid, engine_pid(mitm)
    before = peak_rss_mb(front), peak_rss_mb(engine)
    big = 60 * MIB
    payloads = {fmt: body(fmt, pad=big) for fmt in CALLS}

    def send(fmt: str) -> httpx.Response:
        with client(mitm) as http:
            return http.post(CALLS[fmt], content=payloads[fmt], headers=headers(fmt))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = dict(zip(CALLS, pool.map(send, CALLS), strict=True))
    payloads.clear()
    for fmt, resp in answers.items():
        assert resp.status_code == 413, (fmt, resp.status_code, resp.text[:300])
        assert "over the limit of 32 MiB" in error_message(fmt, resp), fmt
    after = peak_rss_mb(front), peak_rss_mb(engine)
    # buffering the four bodies would take 240 MiB in each process
    grew = [round(a - b) for a, b in zip(after, before, strict=True)]
    print(f"peak RSS (MiB) mitmdump {before[0]:.0f} -> {after[0]:.0f}, "
          f"engine {before[1]:.0f} -> {after[1]:.0f}")
    assert grew[0] < 60 and grew[1] < 60, (before, after)
    assert not fake.model_calls()
    no_traceback(mitm)


def test_a_chunked_body_over_the_limit_gets_a_413_too(mitm, fake):
    def chunks() -> Iterator[bytes]:
        yield b'{"model":"to-openai-chat","pad":"'
        for _ in range(40):
            yield b"x" * MIB
        yield b'","messages":[]}'

    with client(mitm) as http:
        resp = http.post(CALLS["openai-chat"], content=chunks(), headers=headers("openai-chat"))
    assert resp.status_code == 413, resp.text[:300]
    assert "over the limit of 32 MiB" in error_message("openai-chat", resp)
    # a chunked body under the limit streams through and is answered
    fake.script([Reply(text="chunked fine")])
    small = body("openai-chat")
    with client(mitm) as http:
        resp = http.post(CALLS["openai-chat"], content=iter([small[:10], small[10:]]),
                         headers=headers("openai-chat"))
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["choices"][0]["message"]["content"] == "chunked fine"
    no_traceback(mitm)


@pytest.mark.parametrize("fmt", list(CALLS))
def test_a_header_block_over_64_kib_gets_a_431_in_format(mitm, fake, fmt):
    with client(mitm) as http:
        resp = http.post(CALLS[fmt], content=body(fmt),
                         headers={**headers(fmt), "x-huge": "h" * (70 * 1024)})
    assert resp.status_code == 431, resp.text[:300]
    assert "headers are over 64 KiB" in error_message(fmt, resp)
    assert not fake.model_calls()
    no_traceback(mitm)


@pytest.mark.parametrize("fmt", list(CALLS))
def test_json_nested_too_deeply_gets_a_400_in_format_without_a_traceback(mitm, fake, fmt):
    deep = json.loads(body(fmt))
    nested = "[" * 10_000 + "]" * 10_000
    raw = json.dumps(deep)[:-1].encode() + b',"deep":' + nested.encode() + b"}"
    with client(mitm) as http:
        resp = http.post(CALLS[fmt], content=raw, headers=headers(fmt))
    assert resp.status_code == 400, resp.text[:300]
    assert "nested too deeply" in error_message(fmt, resp)
    assert not fake.model_calls()
    no_traceback(mitm)


def test_a_body_over_the_engines_own_limit_gets_a_413_in_format(roomy, fake):
    with client(roomy) as http:
        resp = http.post(CALLS["anthropic"], content=body("anthropic", pad=65 * MIB),
                         headers=headers("anthropic"))
    assert resp.status_code == 413, resp.text[:300]
    assert "over the limit of 64 MiB" in error_message("anthropic", resp)
    no_traceback(roomy)


def test_bodies_past_the_engines_memory_budget_get_a_429_in_format(roomy, fake):
    """1 MiB of bodies at once: a 700 KB call waiting for its answer holds its
    body; a second one does not fit and is refused at once, never queued."""
    fake.script([Reply(text="the first, at last", delay_first_byte=3), Reply(text="third")])
    first: dict[str, httpx.Response] = {}

    def send_first() -> None:
        with client(roomy) as http:
            first["resp"] = http.post(CALLS["anthropic"], content=body("anthropic", 700_000),
                                      headers=headers("anthropic"))

    waiting = threading.Thread(target=send_first)
    waiting.start()
    try:
        deadline = threading.Event()
        for _ in range(600):  # until the provider has the first call (the engine holds it)
            if fake.model_calls():
                break
            deadline.wait(0.05)
        assert fake.model_calls(), roomy.output()[-3000:]
        with client(roomy) as http:
            resp = http.post(CALLS["gemini"], content=body("gemini", 700_000),
                             headers=headers("gemini"))
        assert resp.status_code == 429, resp.text[:300]
        assert "too many large requests at once" in error_message("gemini", resp)
    finally:
        waiting.join(60)
    assert first["resp"].status_code == 200, first["resp"].text[:300]
    # its body released, the next fits again
    with client(roomy) as http:
        resp = http.post(CALLS["gemini"], content=body("gemini", 700_000),
                         headers=headers("gemini"))
    assert resp.status_code == 200, resp.text[:300]
    no_traceback(roomy)


def test_a_compressed_body_that_decodes_past_the_limit_gets_a_413_in_format(mitm, fake):
    """Codex sends zstd: a few KB that decode to 100 MiB are refused as soon
    as they pass the engine's limit, never decoded whole."""
    import zstandard

    engine = engine_pid(mitm)
    before = peak_rss_mb(engine)
    raw = body("openai-responses")
    bomb = zstandard.ZstdCompressor().compress(raw[:-1] + b',"pad":"' + b"x" * (100 * MIB) + b'"}')
    with client(mitm) as http:
        resp = http.post(CALLS["openai-responses"], content=bomb,
                         headers={**headers("openai-responses"), "content-encoding": "zstd"})
    assert resp.status_code == 413, resp.text[:300]
    assert "decoded (zstd) is over the limit of 64 MiB" in error_message("openai-responses", resp)
    assert peak_rss_mb(engine) - before < 90  # decoding it whole: 100 MiB and more
    assert not fake.model_calls()
    no_traceback(mitm)


def test_the_limits_hold_with_the_engine_in_mitmproxys_process(tmp_path, ca_dir, e2e_provider,
                                                                fake):
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port),
                          "--set", "omniroute_engine_mode=inprocess",
                          "--set", "omniroute_max_body=1m")
    try:
        before = peak_rss_mb(mitm.proc.pid)
        with client(mitm) as http:
            resp = http.post(CALLS["anthropic"], content=body("anthropic", pad=40 * MIB),
                             headers=headers("anthropic"))
            assert resp.status_code == 413, resp.text[:300]
            assert "over the limit of 1 MiB" in error_message("anthropic", resp)
            fake.script([Reply(text="in one process")])
            small = body("gemini")
            resp = http.post(CALLS["gemini"], content=iter([small[:5], small[5:]]),
                             headers=headers("gemini"))
            assert resp.status_code == 200, resp.text[:300]
            assert "in one process" in resp.text
        assert peak_rss_mb(mitm.proc.pid) - before < 30  # the 40 MiB body never held
        no_traceback(mitm)
    finally:
        mitm.stop()


def test_with_stream_large_bodies_a_streamed_call_still_goes_to_the_engine(
        tmp_path, ca_dir, e2e_provider, fake):
    """mitmproxy's stream_large_bodies streams a body to where the flow points
    when its headers arrive: that must be the engine, never the vendor."""
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port),
                          "--set", "stream_large_bodies=1k")
    try:
        fake.script([Reply(text="streamed to the engine")])
        with client(mitm) as http:
            resp = http.post(CALLS["openai-chat"], content=body("openai-chat", pad=5000),
                             headers=headers("openai-chat"))
        assert resp.status_code == 200, resp.text[:300]
        assert resp.json()["choices"][0]["message"]["content"] == "streamed to the engine"
        with client(mitm) as http:  # refused by the front before its body, streamed or not
            resp = http.post(CALLS["anthropic"], content=body("anthropic", pad=5000),
                             headers={**headers("anthropic"), "x-huge": "h" * (70 * 1024)})
        assert resp.status_code == 431, resp.text[:300]
        assert "headers are over 64 KiB" in error_message("anthropic", resp)
        no_traceback(mitm)
    finally:
        mitm.stop()
    assert not mitm.blocked(), mitm.blocked()
