"""The engine's web fetcher against loopback servers: it refuses private,
loopback and link-local addresses (literal, resolved, or behind a redirect)
unless a test explicitly allows its own server, and caps size and time."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fakeweb import FakeWeb
from omniroute_mitm.engine.execute.webtools.addresses import IPAddress
from omniroute_mitm.engine.execute.webtools.fetch import Fetcher, FetchError, system_resolve

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def web_server() -> Iterator[FakeWeb]:
    with FakeWeb() as web:
        yield web


@pytest.fixture(scope="module")
def other_server() -> Iterator[FakeWeb]:
    """A second loopback server no fetch may reach."""
    with FakeWeb() as web:
        yield web


@pytest.fixture
def web(web_server: FakeWeb, other_server: FakeWeb) -> Iterator[FakeWeb]:
    web_server.reset()
    other_server.reset()
    yield web_server


class Names:
    """A resolver with a fixed table (other names: the system's), counting its look-ups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        if host not in self.table:
            return await system_resolve(host, port)
        return [ipaddress.ip_address(a) for a in self.table[host]]


def allowed(web: FakeWeb, **kw: object) -> Fetcher:
    """A fetcher that may reach ``web`` (127.0.0.1 at its port) and nothing else private."""
    return Fetcher(allow_for_tests=[("127.0.0.1", web.port)], **kw)  # type: ignore[arg-type]


async def refused(fetcher: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url)
    await fetcher.aclose()
    return info.value


HTML = """<!doctype html><html><head><title>The  Page</title>
<style>body { color: red }</style><script>alert("no")</script></head>
<body><nav><a href="/">Home</a></nav><h1>Heading</h1>
<p>First   paragraph with <b>bold</b> text &amp; an entity.</p>
<ul><li>one</li><li>two</li></ul><pre>  kept
    indent</pre></body></html>"""


async def test_default_refuses_loopback_and_allowance_reaches_it(web: FakeWeb) -> None:
    url = web.page("home", HTML)
    error = await refused(Fetcher(), url)
    assert error.code == "url_not_allowed" and "loopback" in error.message
    assert web.hits == []  # refused before any connection

    fetcher = allowed(web)
    page = await fetcher.fetch(url)
    await fetcher.aclose()
    assert page.title == "The Page"
    assert page.text.startswith("Home\n\nHeading\n\nFirst paragraph with bold text & an entity.")
    assert "- one\n- two" in page.text and "  kept\n    indent" in page.text
    assert "alert" not in page.text and "color" not in page.text
    assert (page.url, page.final_url, page.truncated) == (url, url, False)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.2", "10.0.0.1", "10.255.255.254", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",
    "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "[ff02::1]", "[2002:7f00:1::]", "[2001:db8::1]",
    "2130706433", "0x7f000001", "017700000001", "127.1", "0x7f.1", "0x0a.0.0.1", "167772161",
])  # fmt: skip
async def test_refuses_private_addresses_in_every_form(host: str) -> None:
    error = await refused(Fetcher(), f"http://{host}/latest/meta-data/")
    assert error.code == "url_not_allowed", error.message


async def test_refuses_what_is_no_url() -> None:
    error = await refused(Fetcher(), "http://0177.0.0.1/")  # httpx rejects octal dotted quads
    assert error.code == "invalid_input" and "0177.0.0.1" in error.message


async def test_refuses_names_that_resolve_to_private_addresses(web: FakeWeb) -> None:
    error = await refused(Fetcher(), f"http://localhost:{web.port}/p/x")  # the system resolver
    assert error.code == "url_not_allowed" and "loopback" in error.message
    names = Names({"evil.test": ["127.0.0.1"], "mixed.test": ["93.184.215.14", "10.1.2.3"],
                   "meta.test": ["169.254.169.254"], "six.test": ["::1"]})  # fmt: skip
    for name in names.table:
        error = await refused(Fetcher(resolve=names), f"http://{name}:{web.port}/p/x")
        assert error.code == "url_not_allowed", (name, error.message)
    assert web.hits == []


async def test_connects_to_the_address_it_checked_with_the_name_as_host(web: FakeWeb) -> None:
    web.page("pinned", "plain words", content_type="text/plain")
    names = Names({"pages.test": ["127.0.0.1"]})  # no real resolver knows this name
    fetcher = allowed(web, resolve=names)
    page = await fetcher.fetch(f"http://pages.test:{web.port}/p/pinned")
    await fetcher.aclose()
    assert page.text == "plain words"
    assert names.calls == ["pages.test"]  # resolved once
    assert web.hits[-1][1]["host"] == f"pages.test:{web.port}"


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{other}/p/secret",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::1]:{other}/p/secret",
    "http://localhost:{other}/p/secret",
    "http://rebind.test:{other}/p/secret",
    "http://2130706433:{other}/p/secret",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{other}/",
])  # fmt: skip
async def test_refuses_a_redirect_to_a_private_address(
    web: FakeWeb, other_server: FakeWeb, target: str
) -> None:
    other_server.page("secret", "the secret", content_type="text/plain")
    location = target.format(other=other_server.port)
    url = web.redirect("jump", location)
    names = Names({"rebind.test": ["127.0.0.1"]})
    error = await refused(allowed(web, resolve=names), url)
    assert error.code == "url_not_allowed", error.message
    assert [path for path, _ in web.hits] == ["/p/jump"]
    assert other_server.hits == []  # never reached


async def test_follows_redirects_within_bounds(web: FakeWeb) -> None:
    final = web.page("final", "arrived", content_type="text/plain")
    web.redirect("b", "/p/final", status=301)
    start = web.redirect("a", f"{web.url}/p/b", status=307)
    fetcher = allowed(web)
    page = await fetcher.fetch(start)
    assert (page.url, page.final_url, page.text) == (start, final, "arrived")
    web.redirect("loop", "/p/loop")
    with pytest.raises(FetchError, match="more than 5 redirects"):
        await fetcher.fetch(f"{web.url}/p/loop")
    await fetcher.aclose()
    assert sum(path == "/p/loop" for path, _ in web.hits) == 6


async def test_caps_the_body_size_also_compressed(web: FakeWeb) -> None:
    big = web.page("big", b"a" * 5_000_000, content_type="text/plain")
    bomb = web.page("bomb", gzip.compress(b"b" * 50_000_000), content_type="text/plain",
                    headers={"content-encoding": "gzip"})  # fmt: skip
    small = web.page("small", gzip.compress("gzipped é".encode()),
                     content_type="text/plain; charset=utf-8",
                     headers={"content-encoding": "gzip"})  # fmt: skip
    fetcher = allowed(web, max_bytes=10_000)
    for url, letter in ((big, "a"), (bomb, "b")):
        page = await fetcher.fetch(url)
        assert page.truncated and page.text == letter * 10_000
    page = await fetcher.fetch(small)
    await fetcher.aclose()
    assert (page.text, page.truncated) == ("gzipped é", False)


async def test_caps_the_total_time(web: FakeWeb) -> None:
    url = web.page("slow", b"<p>start of a page that never ends", hang=True)
    error = await refused(allowed(web, timeout=1.0), url)
    assert error.code == "url_not_accessible" and "within 1 s" in error.message


async def test_keeps_text_only(web: FakeWeb) -> None:
    png = web.page("png", b"\x89PNG\r\n\x1a\n\x00\x00", content_type="image/png")
    raw = web.page("raw", b"\x00\x01\x02binary", content_type=None)
    pdf = web.page("pdf", b"%PDF-1.7", content_type="application/pdf")
    data = {"answer": 42, "name": "Zoë"}
    js = web.page("json", json.dumps(data), content_type="application/json")
    md = web.page("md", "# Title\n\n- item", content_type="text/markdown")
    bare = web.page("bare", "<!DOCTYPE html><title>T</title><p>hi", content_type=None)
    latin = web.page("latin", "café".encode("latin-1"), content_type="text/plain; charset=latin-1")
    fetcher = allowed(web)
    for url in (png, raw, pdf):
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(url)
        assert info.value.code == "unsupported_content_type"
    assert json.loads((await fetcher.fetch(js)).text) == data
    page = await fetcher.fetch(md)
    assert (page.text, page.media_type) == ("# Title\n\n- item", "text/markdown")
    page = await fetcher.fetch(bare)
    assert (page.title, page.text) == ("T", "hi")
    assert (await fetcher.fetch(latin)).text == "café"
    await fetcher.aclose()


async def test_an_error_status_is_an_error(web: FakeWeb) -> None:
    url = web.page("gone", "not here", status=404)
    error = await refused(allowed(web), url)
    assert error.code == "url_not_accessible" and "HTTP 404" in error.message


def tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context whose certificate names ``name`` (from a throwaway CA),
    and a client context that trusts only that CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fetch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    pem = serialization.Encoding.PEM
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


async def test_https_goes_to_the_checked_address_with_the_names_sni_and_certificate(
    tmp_path: Path,
) -> None:
    server, client = tls_pair(tmp_path, "pages.test")
    with FakeWeb(tls=server) as web:
        web.page("doc", "over TLS", content_type="text/plain")
        names = Names({"pages.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})
        fetcher = Fetcher(allow_for_tests=[("127.0.0.1", web.port)], resolve=names, verify=client)
        page = await fetcher.fetch(f"https://pages.test:{web.port}/p/doc")
        assert page.text == "over TLS"
        assert web.hits[-1][1]["host"] == f"pages.test:{web.port}"
        # the certificate is checked against the name asked for, not the address
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(f"https://wrong.test:{web.port}/p/doc")
        await fetcher.aclose()
        assert info.value.code == "url_not_accessible"
        assert "certificate" in info.value.message.lower()
        assert len(web.hits) == 1
