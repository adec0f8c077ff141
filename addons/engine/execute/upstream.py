"""Calls to providers and native endpoints: URLs, auth, one pooled client.

:func:`mapped_errors` is the one place httpx exceptions become engine errors.
"""

from __future__ import annotations

import contextlib
import functools
import http.cookiejar
import logging
import os
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx
from omniroute_mitm.engine.core.config import Provider
from omniroute_mitm.engine.core.endpoints import prefix_base_url
from omniroute_mitm.engine.core.errors import UpstreamConnectError, UpstreamStatus, UpstreamTimeout
from omniroute_mitm.engine.core.headers import FRONT_PORT_ENV
from omniroute_mitm.engine.record import reqlog
from omniroute_mitm.engine.route.plan import Attempt

from .wire import Wire, http11_context

# httpx logs every request at INFO: the engine logs one line per call itself.
logging.getLogger("httpx").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0

Kind = Literal["generate", "count_tokens"]


@contextlib.contextmanager
def mapped_errors(label: str, before_response: bool = False) -> Iterator[None]:
    """httpx exceptions -> UpstreamTimeout / UpstreamConnectError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{label}: timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        no_response = before_response and isinstance(
            exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
        )
        raise UpstreamConnectError(f"{label}: {reason}", no_response=no_response) from exc


def provider_url(
    provider: Provider, model: str, stream: bool, kind: Kind = "generate", *, prefix: bool = False
) -> str:
    """``prefix``: a continuation that hands over an assistant prefix (DeepSeek
    takes it on its beta base URL only)."""
    base = prefix_base_url(provider.base_url) if prefix else provider.base_url
    if provider.format == "gemini":
        if kind == "count_tokens":
            action = "countTokens"
        else:
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}/models/{quote(model, safe='')}:{action}"
    if provider.format == "anthropic":
        return f"{base}/messages/count_tokens" if kind == "count_tokens" else f"{base}/messages"
    if provider.format == "openai-responses":
        return f"{base}/responses"
    return f"{base}/chat/completions"


def auth_headers(provider: Provider, key: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if provider.format == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    if key is None:
        return headers
    if provider.format == "anthropic":
        headers["x-api-key"] = key
    elif provider.format == "gemini":
        headers["x-goog-api-key"] = key
    else:
        headers["authorization"] = f"Bearer {key}"
    return headers


def _timeout(provider: Provider | None) -> dict[str, float | None]:
    read = provider.timeout if provider and provider.timeout else READ_TIMEOUT
    return httpx.Timeout(read, connect=CONNECT_TIMEOUT).as_dict()


LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


def env_proxies() -> dict[str, str]:
    """The proxies the environment names, by scheme (``no``: ``NO_PROXY``)."""
    return urllib.request.getproxies_environment()


def proxied(url: httpx.URL, proxies: dict[str, str]) -> bool:
    """Whether a call to ``url`` goes through one of ``proxies`` (not in ``NO_PROXY``)."""
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(url.host, proxies)


def points_at_front(proxy: str) -> bool:
    """Whether ``proxy`` is the mitmproxy front itself (a shell that exported
    the clients' ``HTTPS_PROXY`` before starting mitmdump): going through it
    would send the engine's calls back into the front, round and round."""
    port = os.environ.get(FRONT_PORT_ENV, "")
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        proxy_port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return bool(port) and str(proxy_port) == port and (host in LOOPBACK or host.startswith("127."))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~0.4 s: once per process is enough."""
    return httpx.create_ssl_context()


@functools.cache
def _wire_context() -> ssl.SSLContext:
    """Wire's own (httpx's transport sets ALPN on the context it is given)."""
    return http11_context(httpx.create_ssl_context())


def _client(transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    # Providers set cookies (Cloudflare); keeping them would only grow.
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        http2=transport is None,
        transport=transport,
        verify=_ssl_context() if transport is None else True,
        cookies=jar,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
    )


class Upstream:
    """The engine's pooled httpx client over :class:`~engine.wire.Wire` (lean
    HTTP/1.1); when the environment names a proxy (``HTTPS_PROXY``...) that is
    not the front itself, a second one on httpx's own transport, which honours
    it (HTTP/2 where offered)."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        wire = transport or Wire(_wire_context())
        self.client = _client(wire)
        self._wire = wire if isinstance(wire, Wire) else None
        """Called without the client around it: for these calls its per-call
        work (cookie jar, hooks, timers, redirects) does nothing but cost
        ~0.1 ms, half of it between the response head and the first byte."""
        self._via_proxy: httpx.AsyncClient | None = None
        self._proxies: dict[str, str] = {}
        self._decided = transport is not None  # a given transport is used as is
        if not self._decided and any(k != "no" for k in env_proxies()):
            _ssl_context()  # what a proxied client needs (~0.4 s), loaded now, not in a call
        self.open_requests = 0
        self.requests_total = 0
        """Upstream requests since start (``open_requests``: in flight now)."""
        """Upstream requests whose response is not closed yet (the status page)."""

    def provider_request(
        self,
        attempt: Attempt,
        body: bytes,
        *,
        stream: bool,
        kind: Kind = "generate",
        extra: Mapping[str, str] | None = None,
        prefix: bool = False,
    ) -> httpx.Request:
        provider = attempt.provider
        assert provider is not None and attempt.model is not None
        key = attempt.key.get_secret_value() if attempt.key is not None else None
        headers = {"content-type": "application/json", **(extra or {})}
        headers["accept"] = "text/event-stream" if stream else "application/json"
        headers.update(auth_headers(provider, key))
        headers.update({k: v.get_secret_value() for k, v in provider.headers.items()})
        url = provider_url(provider, attempt.model, stream, kind, prefix=prefix)
        return httpx.Request(
            "POST", url, headers=headers, content=body, extensions={"timeout": _timeout(provider)}
        )

    def native_request(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Request:
        return httpx.Request(
            method, url, headers=headers, content=body, extensions={"timeout": _timeout(None)}
        )

    @contextlib.asynccontextmanager
    async def open(self, request: httpx.Request, label: str) -> AsyncIterator[httpx.Response]:
        """Send ``request``; the body is read by the caller (streamed)."""
        self.open_requests += 1
        self.requests_total += 1
        logged = reqlog.current.get() is not None  # (its lines cost nothing when off)
        if logged:
            reqlog.note_head(f"upstream request ({label})", f"{request.method} {request.url}",
                             request.headers.multi_items())  # fmt: skip
            reqlog.note("upstream request", request.content)
        try:
            with mapped_errors(label, before_response=True):
                response = await self._send(request)
            if logged:
                reqlog.note_head(f"upstream response ({label})", f"HTTP {response.status_code}",
                                 response.headers.multi_items())  # fmt: skip
            try:
                yield response
            finally:
                await response.aclose()
        finally:
            self.open_requests -= 1

    async def error_body(
        self, response: httpx.Response, label: str, fmt: str | None
    ) -> UpstreamStatus:
        """Read an error response's body into an UpstreamStatus to raise."""
        with mapped_errors(label):
            body = await response.aread()
        reqlog.note("upstream response", body)
        headers = tuple((k.lower(), v) for k, v in response.headers.multi_items())
        return UpstreamStatus(response.status_code, body, fmt=fmt, label=label, headers=headers)

    async def chunks(
        self, response: httpx.Response, label: str, raw: bool = False
    ) -> AsyncIterator[bytes]:
        # Not encoded: the raw chunks, without the decoder and its chunker per chunk.
        raw = raw or response.headers.get("content-encoding", "identity") == "identity"
        with mapped_errors(label):
            source = response.aiter_raw() if raw else response.aiter_bytes()
            async for chunk in source:
                reqlog.note("upstream response", chunk)
                yield chunk

    async def _send(self, request: httpx.Request) -> httpx.Response:
        client = self._pick(request.url)
        if client is self.client and self._wire is not None:
            response = await self._wire.handle_async_request(request)
            response.request = request
            return response
        return await client.send(request, stream=True)

    def _pick(self, url: httpx.URL) -> httpx.AsyncClient:
        """Wire, or httpx's transport when the environment's proxy applies to
        ``url`` (decided at the first call: the front names its port before)."""
        if not self._decided:
            self._decided = True
            proxies = env_proxies()
            named = sorted({v for k, v in proxies.items() if k != "no"})
            if any(points_at_front(proxy) for proxy in named):
                log.warning(
                    "the environment's proxy (%s) is this mitmproxy itself: the engine "
                    "calls providers directly",
                    ", ".join(named),
                )
            elif named:  # httpx reads them (and NO_PROXY) itself
                self._proxies = proxies
                self._via_proxy = _client(None)
        if self._via_proxy is not None and proxied(url, self._proxies):
            return self._via_proxy
        return self.client

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._via_proxy is not None:
            await self._via_proxy.aclose()
