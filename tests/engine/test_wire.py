"""execute.wire: the lean HTTP/1.1 upstream client, against real loopback servers
that answer with scripted bytes (framing edge cases a provider may send)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from omniroute_mitm.engine.core.headers import FRONT_PORT_ENV
from omniroute_mitm.engine.execute import wire
from omniroute_mitm.engine.execute.upstream import Upstream
from omniroute_mitm.engine.execute.wire import Wire, http11_context

pytestmark = pytest.mark.anyio

Script = Callable[[bytes, asyncio.StreamWriter], "asyncio.Future[None] | None"]


@dataclass
class Server:
    """Answers each request on a connection with ``answers`` (bytes pieces, or
    a float: a pause); records what it got and how many connections it saw."""

    answers: list[list[bytes | float]]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None
    alpn: list[str | None] = field(default_factory=list)

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls,
                                                 backlog=128)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        tls = writer.get_extra_info("ssl_object")
        self.alpn.append(tls.selected_alpn_protocol() if tls else None)
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                for piece in self.answers.pop(0):
                    if isinstance(piece, float):  # a pause; a hang-up ends it
                        try:
                            if not await asyncio.wait_for(reader.read(1), piece):
                                return
                        except TimeoutError:
                            pass
                    else:
                        writer.write(piece)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()
            self.closed.set()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def fetch(url: str, transport: Wire, **kw: object) -> httpx.Response:
    """One request through ``transport`` (one client per transport, as the engine has)."""
    client = getattr(transport, "test_client", None)
    if client is None:
        client = transport.test_client = httpx.AsyncClient(transport=transport)  # type: ignore[attr-defined]
    return await client.request("POST", url + "/v1/x?a=1", content=b'{"q":1}', **kw)


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailer \
        + b"\r\n"


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" \
    b"transfer-encoding: chunked\r\n\r\n"


async def test_a_chunked_body_cut_at_every_byte_arrives_whole_and_the_request_is_sent_as_given():
    body = chunked(b"data: one\n\n", b"data: two\n\n", b"", trailer=b"x-trailer: 1\r\n")
    raw = HEAD_CHUNKED + body
    server = Server([[bytes([b]) for b in raw]])
    url = await server.start()
    response = await fetch(url, Wire(ssl.create_default_context()))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.content == b"data: one\n\ndata: two\n\n"
    head, _, sent = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/x?a=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in head.lower() and b"content-length: 7" in head.lower()
    assert sent == b'{"q":1}'
    await server.stop()


async def test_kept_alive_connections_are_reused_and_a_closed_one_is_replaced():
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = Server([[ok], [ok], [ok, 0.05]])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    for _ in range(3):
        assert (await fetch(url, transport)).content == b"ok"
    assert server.connections == 1  # one connection for three requests
    await asyncio.wait_for(server.closed.wait(), 5)  # the server hung up while idle
    await asyncio.sleep(0.01)  # (its FIN is in our socket: the next poll sees it)
    server.answers.append([ok])
    assert (await fetch(url, transport)).content == b"ok"
    assert server.connections == 2
    await transport.aclose()
    await server.stop()


async def test_idle_connections_past_their_time_are_closed():
    """A burst leaves several idle connections: the next answer closes those idle
    for longer than IDLE_LIMIT instead of keeping their sockets open for good."""
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = Server([[ok, 30.0]] * 3)
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    answers = await asyncio.gather(*(fetch(url, transport) for _ in range(3)))
    assert [r.content for r in answers] == [b"ok"] * 3 and server.connections == 3
    (idle,) = transport.idle.values()
    for conn in idle[:2]:
        conn.idle_since -= wire.IDLE_LIMIT + 1  # two of them idle for too long
    server.answers.append([ok])
    assert (await fetch(url, transport)).content == b"ok"
    assert server.connections == 3  # the fresh one was reused
    await asyncio.wait_for(server.closed.wait(), 5)  # the old ones were closed
    assert len(idle) == 1
    await transport.aclose()
    await server.stop()


async def test_a_body_framed_by_the_close_is_read_to_the_end_and_not_reused():
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"a\":", 0.05,
                      b"1}"]])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    response = await fetch(url, transport)
    assert response.json() == {"a": 1}
    assert not any(transport.idle.values())
    await server.stop()


async def test_interim_heads_are_skipped_and_bodiless_answers_end_at_once():
    server = Server([
        [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: x\r\n\r\n"
         b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nabc"],
        [b"HTTP/1.1 204 No Content\r\n\r\n"],
        [b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n"],
    ])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    first = await fetch(url, transport)
    assert (first.status_code, first.content) == (201, b"abc")
    assert (await fetch(url, transport)).content == b""
    assert (await fetch(url, transport)).status_code == 304
    assert server.connections == 1
    await server.stop()


async def test_a_folded_header_is_joined_and_bad_framing_is_a_protocol_error():
    server = Server([[b"HTTP/1.1 200 OK\r\nx-long: a\r\n  b\r\ncontent-length: 0\r\n\r\n"],
                     [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"]])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    assert (await fetch(url, transport)).headers["x-long"] == "a b"
    with pytest.raises(httpx.RemoteProtocolError, match="bad chunk size"):
        await fetch(url, transport)
    await server.stop()


@pytest.mark.parametrize("answer, message", [
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab", "complete message body"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "complete message body"),
    (b"", "without sending a response"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"),
])
async def test_a_cut_or_foreign_answer_raises_httpx_protocol_error(answer, message):
    server = Server([[answer]])
    url = await server.start()
    with pytest.raises(httpx.RemoteProtocolError, match=message):
        await fetch(url, Wire(ssl.create_default_context()))
    await server.stop()


async def test_a_silent_upstream_times_out_and_a_closed_port_fails_to_connect():
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab", 5.0]])
    url = await server.start()
    with pytest.raises(httpx.ReadTimeout):
        await fetch(url, Wire(ssl.create_default_context()), timeout=httpx.Timeout(0.2))
    await server.stop()
    with pytest.raises(httpx.ConnectError):
        await fetch("http://127.0.0.1:9", Wire(ssl.create_default_context()))


async def first_piece(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("POST", url + "/s", content=b"{}") as response:
        async for data in response.aiter_raw():
            return data  # leaving the block closes the response
    return b""


async def test_a_body_is_handed_over_as_it_arrives_and_closing_early_closes_it():
    """The first piece reaches the reader while the rest is 30 s away; the
    reader then hangs up, and the provider sees the connection close."""
    server = Server([[HEAD_CHUNKED, b"5\r\nfirst\r\n", 30.0, b"6\r\nsecond\r\n0\r\n\r\n"]])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    async with httpx.AsyncClient(transport=transport) as client:
        assert await asyncio.wait_for(first_piece(client, url), 10) == b"first"
    await asyncio.wait_for(server.closed.wait(), 5)  # the provider sees the hang-up
    assert not any(transport.idle.values())
    await server.stop()


async def test_a_slow_reader_holds_the_upstream_back_instead_of_buffering_everything():
    big = b"x" * (4 * 1024 * 1024)
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(big), big]])
    url = await server.start()
    transport = Wire(ssl.create_default_context())
    peak = 0
    total = 0
    async with httpx.AsyncClient(transport=transport) as client:
        async with client.stream("POST", url + "/s", content=b"{}") as response:
            async for data in response.aiter_raw():
                total += len(data)
                await asyncio.sleep(0.002)  # a client slower than loopback
                conns = [c for c in _open_conns(transport, response)]
                peak = max([peak, *(len(c.buf) for c in conns)])
    assert total == len(big)
    assert peak <= wire.HIGH_WATER + 512 * 1024  # bounded, not the whole 4 MB
    await server.stop()


def _open_conns(transport: Wire, response: httpx.Response) -> list[wire.Conn]:
    stream = response.stream
    inner = getattr(stream, "_stream", stream)
    conn = getattr(inner, "conn", None)
    return [conn] if conn is not None else []


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_verifies_the_certificate_and_offers_only_http11(tmp_path):
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server_tls.set_alpn_protocols(["h2", "http/1.1"])
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = Server([[ok], [ok]])
    url = await server.start(server_tls)
    trusting = http11_context(ssl.create_default_context(cafile=str(cert)))
    assert (await fetch(url, Wire(trusting))).content == b"ok"
    assert server.alpn == ["http/1.1"]  # never h2, which Wire does not speak
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch(url, Wire(http11_context(ssl.create_default_context())))
    await server.stop()


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def proxy_env(monkeypatch, proxy: str, no_proxy: str = "", front: str = "") -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", FRONT_PORT_ENV):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    if front:
        monkeypatch.setenv(FRONT_PORT_ENV, front)


async def call(upstream: Upstream, url: str) -> bytes:
    request = httpx.Request("POST", url + "/v1/chat/completions", content=b"{}")
    async with upstream.open(request, "test") as response:
        return await response.aread()


async def test_a_proxy_in_the_environment_is_honoured_except_for_no_proxy_hosts(monkeypatch):
    """HTTP(S)_PROXY set: the upstream calls go through that proxy (httpx's
    transport, which reads the environment), never around it; a host in
    NO_PROXY is called directly."""
    proxy_server, provider = Server([[OK]]), Server([[OK]])
    proxy = await proxy_server.start()
    direct = await provider.start()
    proxy_env(monkeypatch, proxy, no_proxy="127.0.0.1,localhost")
    upstream = Upstream()
    assert await call(upstream, "http://provider.invalid") == b"ok"
    assert proxy_server.requests[0].startswith(
        b"POST http://provider.invalid/v1/chat/completions ")
    assert await call(upstream, direct) == b"ok"
    assert len(proxy_server.requests) == 1 and len(provider.requests) == 1
    await upstream.aclose()
    await proxy_server.stop()
    await provider.stop()


async def test_a_proxy_that_is_the_front_itself_is_never_used(monkeypatch, caplog):
    """A shell that exported the clients' HTTPS_PROXY before starting mitmdump:
    the engine must not send its calls back into its own front."""
    front, provider = Server([[OK]]), Server([[OK]])
    front_url = await front.start()
    direct = await provider.start()
    port = front_url.rsplit(":", 1)[1]
    proxy_env(monkeypatch, f"http://localhost:{port}", front=port)
    upstream = Upstream()
    assert await call(upstream, direct) == b"ok"
    assert front.requests == [] and len(provider.requests) == 1
    assert "is this mitmproxy itself" in caplog.text
    await upstream.aclose()
    await front.stop()
    await provider.stop()
