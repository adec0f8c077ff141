"""The engine's web fetcher (``web_fetch`` for targets without one): a page's
text, from the public internet only.

Each hop (the URL, then every redirect, followed here one by one up to
``max_redirects``) is checked the same way: ``http``/``https`` only, no
credentials in the URL, the host resolved once and *every* address it
resolves to checked (:mod:`.addresses`: no private, loopback, link-local,
multicast, reserved, CGNAT or unique-local address, IPv4 or IPv6). The
connection then goes to that checked address (the URL's host replaced by
it; the name still sent as ``Host`` and TLS SNI, and the certificate
checked against the name), so a second DNS answer cannot move it
(rebinding). No connection is kept for reuse, none goes through a proxy.

The body is capped at ``max_bytes`` (decompressed bytes: a gzip bomb stops
there too) and the whole fetch, redirects included, at ``timeout`` seconds.
Only text is kept: HTML as readable text, ``text/*``, JSON and XML as they
are; anything else is refused.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .addresses import IPAddress, literal_address, refusal
from .htmltext import html_to_text

MAX_BYTES = 1_000_000
TIMEOUT = 20.0
MAX_REDIRECTS = 5
MAX_URL = 2048
USER_AGENT = "omniroute-mitm-web-fetch/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class FetchError(Exception):
    """A page not fetched. ``code`` is the reason in Anthropic's
    ``web_fetch_tool_result_error`` terms: ``url_not_allowed``,
    ``url_not_accessible``, ``unsupported_content_type``, ``url_too_long``,
    ``invalid_input``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    """The URL asked for."""
    final_url: str
    """Where the text came from, after redirects."""
    title: str | None
    text: str
    truncated: bool
    """The body was longer than the fetcher's ``max_bytes``."""
    media_type: str
    """As served (``text/html``, ``text/plain``, ``application/json``...)."""


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives ``host``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for info in infos:
        seen.setdefault(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), None)
    return list(seen)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class Fetcher:
    """Fetches pages' text (see the module doc). ``allow_for_tests`` lists
    ``(address, port)`` pairs let through although the policy refuses them:
    for tests against loopback servers only; nothing in the engine or the
    config sets it. ``verify``: the TLS roots (default: httpx's, certifi)."""

    def __init__(
        self,
        *,
        max_bytes: int = MAX_BYTES,
        timeout: float = TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
        resolve: Resolver = system_resolve,
        allow_for_tests: Iterable[tuple[str, int]] = (),
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._resolve = resolve
        self._allowed = {(str(ipaddress.ip_address(a)), int(p)) for a, p in allow_for_tests}
        self._client = httpx.AsyncClient(
            trust_env=False,  # a proxy would resolve the name itself, unchecked
            verify=verify or _ssl_context(),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(timeout),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> Page:
        """The text of ``url``; raises :class:`FetchError`."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url)
        except TimeoutError:
            raise FetchError(
                "url_not_accessible", f"{url}: no complete answer within {self.timeout:g} s"
            ) from None

    async def _follow(self, url: str) -> Page:
        current = url
        for _ in range(self.max_redirects + 1):
            request = await self._pinned(current)
            try:
                response = await self._client.send(request, stream=True)
                try:
                    answer = await self._answer(url, current, response)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
                raise FetchError("url_not_accessible", f"{current}: {reason}") from exc
            if isinstance(answer, Page):
                return answer
            current = answer
        raise FetchError("url_not_accessible", f"{url}: more than {self.max_redirects} redirects")

    async def _answer(self, url: str, current: str, response: httpx.Response) -> Page | str:
        """The page, or the URL a redirect points to."""
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            return urljoin(current, str(location).strip())
        if response.status_code >= 300:
            status = response.status_code
            raise FetchError("url_not_accessible", f"{current}: answered HTTP {status}")
        return await self._page(url, current, response)

    async def _pinned(self, url: str) -> httpx.Request:
        """The request for ``url`` pinned to its checked address."""
        if len(url) > MAX_URL:
            raise FetchError("url_too_long", f"URL longer than {MAX_URL} characters")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError("invalid_input", f"{url!r}: not a URL ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise FetchError("url_not_allowed", f"{url}: only http and https URLs are fetched")
        if parsed.userinfo:
            raise FetchError("url_not_allowed", f"{url}: URLs with credentials are not fetched")
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = await self._checked_address(host, port)
        literal = literal_address(host)
        shown = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
        headers = {
            "host": shown if parsed.port is None else f"{shown}:{port}",
            "user-agent": USER_AGENT,
            "accept": "text/html, text/plain;q=0.9, application/json;q=0.8, */*;q=0.1",
            "accept-encoding": "gzip, deflate",
        }
        extensions = {"sni_hostname": host} if parsed.scheme == "https" and literal is None else {}
        pinned = parsed.copy_with(host=str(address), port=port)
        return self._client.build_request("GET", pinned, headers=headers, extensions=extensions)

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError as exc:
                raise FetchError("url_not_accessible", f"{host}: cannot resolve ({exc})") from None
        if not addresses:
            raise FetchError("url_not_accessible", f"{host}: resolves to no address")
        for address in addresses:
            why = refusal(address)
            if why is not None and (str(address), port) not in self._allowed:
                raise FetchError("url_not_allowed",
                                 f"{host}: resolves to a {why} address ({address})")  # fmt: skip
        return addresses[0]

    async def _page(self, url: str, final: str, response: httpx.Response) -> Page:
        media_type, charset = _content_type(response.headers.get("content-type", ""))
        kind = _kind(media_type)
        if media_type and kind is None:
            raise FetchError("unsupported_content_type", f"{final}: {media_type} is not text")
        body, truncated = await self._body(response)
        if kind is None:
            kind = _sniff(body)
            if kind is None:
                raise FetchError("unsupported_content_type", f"{final}: the body is not text")
            media_type = "text/html" if kind == "html" else "text/plain"
        text = _decode(body, charset or _meta_charset(body, kind), final=not truncated)
        title = None
        if kind == "html":
            text, title = html_to_text(text)
        return Page(url, final, title, text, truncated, media_type)

    async def _body(self, response: httpx.Response) -> tuple[bytes, bool]:
        """Up to ``max_bytes`` of the decoded body, and whether there was more."""
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflate: zlib._Decompress | None = zlib.decompressobj(wbits=47)  # gzip or zlib
        elif encoding in ("identity", ""):
            inflate = None
        else:
            raise FetchError("unsupported_content_type", f"content-encoding {encoding!r}")
        out = bytearray()
        async for chunk in response.aiter_raw():
            room = self.max_bytes - len(out)
            try:
                piece = inflate.decompress(chunk, room + 1) if inflate else chunk
            except zlib.error as exc:
                raise FetchError("url_not_accessible", f"bad {encoding} body: {exc}") from None
            if len(piece) > room:
                out += piece[:room]
                return bytes(out), True
            out += piece
        return bytes(out), False


def _content_type(value: str) -> tuple[str, str | None]:
    media_type, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset":
            charset = raw.strip().strip("\"'") or None
    return media_type.strip().lower(), charset


def _kind(media_type: str) -> str | None:
    """``html``, ``text`` or None (not text) for a media type."""
    if media_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if media_type.startswith("text/"):
        return "text"
    if media_type in ("application/json", "application/xml", "application/javascript"):
        return "text"
    if media_type.endswith(("+json", "+xml")):
        return "text"
    return None


def _sniff(body: bytes) -> str | None:
    """The kind of a body served without a content type."""
    head = body[:2048]
    if b"\x00" in head:
        return None
    if re.match(rb"\s*(<!doctype html|<html)", head, re.IGNORECASE):
        return "html"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end
            return None
    return "text"


def _meta_charset(body: bytes, kind: str) -> str | None:
    if kind != "html":
        return None
    match = _META_CHARSET.search(body[:2048])
    return match.group(1).decode("ascii") if match else None


def _decode(body: bytes, charset: str | None, final: bool) -> str:
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(body, final=final)
