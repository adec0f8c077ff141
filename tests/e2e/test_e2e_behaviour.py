"""End-to-end behaviour beyond the happy path: fallback, all-fail, errors after
the first byte, client disconnect, bad input, invalid config, untouched hosts."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time

import anthropic
import httpx
import openai
import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    Mitmdump,
    base_url,
    client_ssl_context,
    copy_confdir,
    e2e_config,
    provider_key,
    write_config,
)
from fakeprovider import Reply
from fakeprovider.sdk import call
from google.genai import errors as genai_errors

pytestmark = pytest.mark.e2e

SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    providers = {
        "slow": {"format": "openai-chat", "base_url": base_url("openai-chat", port),
                 "keys": [provider_key("slow")], "timeout": 1},
    }
    combos = {
        "fallback": {"strategy": "priority",
                     "targets": ["fake-openai-chat/primary", "fake-anthropic/backup"]},
        "deadfirst": {"strategy": "priority", "targets": ["dead/x", "fake-gemini/backup"]},
        "slowfirst": {"strategy": "priority",
                      "targets": ["slow/x", "fake-openai-responses/backup"]},
        "allfail": {"strategy": "priority", "targets": ["fake-openai-chat/a", "fake-gemini/b"]},
    }
    routes = [{"match": {"model": name}, "to": name} for name in combos]
    config = e2e_config(port, providers, combos, routes)
    # Each test here is about one request's fallback: nothing remembered across
    # tests (cooldowns and breakers have their own suite, test_e2e_faults).
    config["resilience"] = {"rate_limit_cooldown": 0.001, "rate_limit_max": 0.001,
                            "backoff": 0.001, "backoff_max": 0.001,
                            "breaker_failures": 1000,
                            # a break after the first byte ends the stream here
                            # (its continuation: test_e2e_continue.py)
                            "continue": False}
    return config


def raw_client(mitm: Mitmdump) -> httpx.Client:
    return httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=20)


# --------------------------------------------------------------------------- fallback


@pytest.mark.parametrize("client", FORMATS)
def test_429_falls_back_to_the_next_target(conn, fake, client):
    fake.script([Reply(status=429), Reply(text="from the backup")])
    got = call(conn, client, "fallback", stream=True)
    assert got.text == "from the backup"
    first, second = fake.model_calls()
    assert (first.format, first.api_key) == ("openai-chat", provider_key("openai-chat"))
    assert (second.format, second.api_key) == ("anthropic", provider_key("anthropic"))
    assert second.body["model"] == "backup"


@pytest.mark.parametrize("status", [500, 503, 529])
def test_5xx_falls_back(conn, fake, status):
    fake.script([Reply(status=status), Reply(text="backup ok")])
    assert call(conn, "openai-chat", "fallback", stream=True).text == "backup ok"
    assert len(fake.model_calls()) == 2


def test_connection_error_falls_back(conn, fake):
    fake.script([Reply(text="after a refused connection")])
    got = call(conn, "anthropic", "deadfirst", stream=True)
    assert got.text == "after a refused connection"
    assert [r.format for r in fake.model_calls()] == ["gemini"]


SLOW = 8.0  # when the slow provider would send its first byte; its timeout is 1 s


def test_first_byte_timeout_falls_back(conn, fake, mitm):
    """The slow provider says nothing for 8 s; its timeout is 1 s: the engine
    gives up on it at the timeout and the backup answers, instead of the
    client waiting for the slow one. Timed on the provider's own clock (when
    each call reached it): on a loaded machine the client and the proxy can
    take many seconds more (a bound on the whole call failed so), while the
    gap between the two calls stays the 1 s timeout."""
    fake.script([Reply(text="too late", delay_first_byte=SLOW), Reply(text="in time")])
    got = call(conn, "openai-responses", "slowfirst", stream=True)
    assert got.text == "in time"
    slow, backup = fake.model_calls()
    assert (slow.api_key, backup.api_key) == (
        provider_key("slow"),
        provider_key("openai-responses"),
    )
    # the backup was asked at the timeout, long before the slow one could answer
    assert backup.received_at - slow.received_at < SLOW / 2
    # and the engine says why: the slow one timed out (504), the backup answered
    deadline = time.monotonic() + 10
    route = "slowfirst -> fake-openai-responses/backup (fallback from slow/x: 504) 200"
    while not any(route in line for line in mitm.lines):
        assert time.monotonic() < deadline, "\n".join(mitm.lines[-20:])
        time.sleep(0.05)


def test_dropped_connection_falls_back(conn, fake):
    fake.script([Reply(drop_connection=True), Reply(text="second try")])
    assert call(conn, "gemini", "fallback", stream=True).text == "second try"


# --------------------------------------------------------------------------- all fail


def check_error_shape(client: str, exc: Exception, status: int) -> None:
    if client == "gemini":
        assert isinstance(exc, genai_errors.APIError)
        assert exc.code == status and exc.status == "UNAVAILABLE" and exc.message
        return
    assert isinstance(exc, openai.APIStatusError | anthropic.APIStatusError)
    assert exc.status_code == status
    if client == "anthropic":
        assert exc.body["type"] == "error" and exc.body["error"]["type"] and exc.body["error"][
            "message"]
    else:  # the SDK keeps the "error" object
        assert exc.body["message"] and "type" in exc.body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("client", FORMATS)
def test_all_fail_gives_one_error_in_the_clients_format(conn, fake, client, stream):
    fake.script([Reply(status=429), Reply(status=503, error_message="backend down")])
    with pytest.raises(SDK_ERRORS) as info:
        call(conn, client, "allfail", stream=stream)
    check_error_shape(client, info.value, 503)
    assert len(fake.model_calls()) == 2
    assert CLIENT_KEY not in str(info.value.__dict__) and "pk-" not in str(info.value)


# --------------------------------------------------------------------------- after first byte


@pytest.mark.parametrize("client", FORMATS)
def test_error_after_first_byte_reaches_the_client_as_an_error(conn, fake, client):
    fake.script([Reply(text="one two three four five six seven", error_mid_stream=True,
                       error_message="Overloaded"), Reply(text="must not be used")])
    with pytest.raises(SDK_ERRORS):
        call(conn, client, "to-anthropic", stream=True)
    assert len(fake.model_calls()) == 1, "no fallback once bytes reached the client"


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
def test_upstream_dropped_mid_stream_fails_the_client_cleanly(conn, fake, client):
    fake.script([Reply(text="one two three four five six seven", drop_mid_stream=True)])
    with pytest.raises((*SDK_ERRORS, httpx.HTTPError)):
        call(conn, client, "to-openai-responses", stream=True)


# --------------------------------------------------------------------------- disconnect


# A minute of events: the upstream cannot end on its own while the test looks,
# however slowly a loaded machine gets the first event to the client.
LONG_EVENTS = 3000


def check_upstream_cancelled(fake, reply: Reply, mitm: Mitmdump) -> None:
    """The request that got ``reply`` (not merely the last one) saw its
    connection close before its stream ended."""
    (rec,) = [r for r in fake.model_calls() if r.reply is reply]
    closed = fake.wait_for(lambda: rec.closed_early, 5)
    assert closed, (
        f"the fake provider never saw the upstream connection close (events sent "
        f"{rec.events_sent}, stream completed {rec.completed}, model calls "
        f"{len(fake.model_calls())}); mitmdump's last lines:\n" + "\n".join(mitm.lines[-20:])
    )
    assert rec.events_sent < LONG_EVENTS


def test_client_disconnect_cancels_the_upstream_request_anthropic(conn, fake, mitm):
    reply = Reply.bench(LONG_EVENTS, delay_between=0.02)
    fake.script([reply])
    with conn.anthropic().messages.stream(
        model="to-openai-chat", max_tokens=100, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                assert event.delta.type == "text_delta" and "tok0" in event.delta.text
                break
    check_upstream_cancelled(fake, reply, mitm)


def test_client_disconnect_cancels_the_upstream_request_raw(mitm, fake):
    reply = Reply.bench(LONG_EVENTS, delay_between=0.02)
    fake.script([reply])
    body = {"model": "to-gemini", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    with raw_client(mitm) as client, client.stream(
        "POST", "https://api.openai.com/v1/chat/completions", json=body,
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
    ) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                break
    check_upstream_cancelled(fake, reply, mitm)


# --------------------------------------------------------------------------- bad input


BAD_JSON = {
    "openai-chat": ("https://api.openai.com/v1/chat/completions", "authorization"),
    "openai-responses": ("https://api.openai.com/v1/responses", "authorization"),
    "anthropic": ("https://api.anthropic.com/v1/messages", "x-api-key"),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/models/to-gemini:"
               "generateContent", "x-goog-api-key"),
}


@pytest.mark.parametrize("client", FORMATS)
def test_bad_json_is_a_400_in_the_clients_format(mitm, fake, client):
    url, header = BAD_JSON[client]
    with raw_client(mitm) as http:
        resp = http.post(url, content=b'{"model": "to-openai-chat", "messages": [',
                         headers={header: CLIENT_KEY, "content-type": "application/json"})
    assert resp.status_code == 400
    body = resp.json()
    if client == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    elif client == "gemini":
        assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    assert "Traceback" not in resp.text
    assert fake.model_calls() == []


def test_codex_websocket_upgrade_gets_426(mitm, fake):
    headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13",
               "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
               "authorization": f"Bearer {CLIENT_KEY}"}
    with raw_client(mitm) as http:
        resp = http.get("https://api.openai.com/v1/responses", headers=headers)
    assert resp.status_code == 426
    assert fake.requests == []


# --------------------------------------------------------------------------- side calls


def test_count_tokens(conn, fake):
    msgs = [{"role": "user", "content": "hello there"}]
    counted = conn.anthropic().messages.count_tokens(model="to-anthropic", messages=msgs)
    assert counted.input_tokens > 0
    estimated = conn.anthropic().messages.count_tokens(model="to-gemini", messages=msgs)
    assert estimated.input_tokens > 0
    assert all(not r.carries(CLIENT_KEY) for r in fake.requests)


# --------------------------------------------------------------------------- other traffic


class _Hello(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(f"{self.headers['host']} {self.path}")
        body = b"untouched"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "server.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pem


def test_other_hosts_are_tunnelled_untouched(mitm, tmp_path):
    """A non-AI HTTPS host keeps its own certificate: the proxy did not decrypt it."""
    pem = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        trust_only_server = ssl.create_default_context(cafile=str(pem))
        port = server.server_address[1]
        with httpx.Client(proxy=mitm.url, verify=trust_only_server, timeout=10) as http_:
            resp = http_.get(f"https://localhost:{port}/hello?x=1")
        assert (resp.status_code, resp.text) == (200, "untouched")
        assert _Hello.seen[-1] == f"localhost:{port} /hello?x=1"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- invalid config


def test_invalid_config_exits_1_with_one_line(tmp_path, ca_dir, e2e_provider):
    config = e2e_config(e2e_provider.port, extra_combos={
        "smart": {"strategy": "priority", "targets": ["deepseak/deepseek-chat"]}})
    path = write_config(tmp_path / "broken.yaml", config)
    confdir = copy_confdir(ca_dir, tmp_path / "confdir")
    status, out = Mitmdump(path, confdir).run_to_exit(timeout=60)
    assert status == 1, out
    lines = [line for line in out.splitlines() if "combos.smart.targets[0]" in line]
    assert len(lines) == 1, out
    assert "deepseak" in lines[0] and "broken.yaml" in lines[0]
    assert "Traceback" not in out


def test_invalid_yaml_exits_1(tmp_path, ca_dir):
    path = tmp_path / "config.yaml"
    path.write_text("providers: {fake: {format: openai-chat\n")
    confdir = copy_confdir(ca_dir, tmp_path / "confdir")
    status, out = Mitmdump(path, confdir).run_to_exit(timeout=60)
    assert status == 1, out
    assert "config.yaml" in out and "Traceback" not in out


def test_no_request_left_loopback(mitm):
    assert mitm.blocked() == []
    assert json.dumps(mitm.lines).count(CLIENT_KEY) == 0, "a key appeared in mitmdump's log"
