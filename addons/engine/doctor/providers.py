"""Each provider's reachability and keys, with the cheapest call its API has.

A GET of the model list: no tokens are spent, and only the provider's
configured base_url is contacted. Keys never appear in a result: a key is
named by its variable (or its position in the config).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from ..config import Provider, _resolve_provider
from ..upstream import auth_headers
from .base import Context, Result
from .setup_checks import provider_vars


def check_providers(ctx: Context) -> Iterator[Result]:
    if ctx.config is None:
        return
    names = list(ctx.raw)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        for results in pool.map(lambda name: list(check_provider(ctx, name)), names):
            yield from results


def check_provider(ctx: Context, name: str) -> Iterator[Result]:
    try:
        provider, misses = _resolve_provider(name, Provider.model_validate(ctx.raw[name]),
                                             ctx.env)
    except ValidationError:
        return  # the config check said why
    if misses:
        return  # the key check said which variable
    label = f"provider {name}"
    keys = [k.get_secret_value() for k in provider.keys] or [None]
    variables = provider_vars(ctx.raw[name])
    with _client(ctx, provider.base_url) as client:
        for i, key in enumerate(keys):
            who = _key_name(i, len(keys), variables, key is None)
            result = _probe(client, label, provider, key, who)
            yield result
            if result.message.startswith("cannot reach"):
                return  # unreachable: the other keys would say the same


def _probe(client: httpx.Client, label: str, provider: Provider, key: str | None,
           who: str) -> Result:
    url = f"{provider.base_url}/models"
    headers = auth_headers(provider, key) | {
        h: v.get_secret_value() for h, v in provider.headers.items()
    }
    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return Result("error", label, f"cannot reach {url}: {reason}",
                      f"check providers.{label.split()[1]}.base_url and the network")
    status = response.status_code
    if status in (401, 403):
        return Result("error", label, f"{who} refused ({status} from {url})",
                      f"check the key in {who}" if who.startswith("$")
                      else f"check providers.{label.split()[1]}.keys")
    if status == 200:
        count = _count_models(response)
        listed = f", {count} models listed" if count is not None else ""
        return Result("ok", label, f"{provider.base_url} answers, {who} accepted{listed}")
    if status == 404:
        return Result("warning", label, f"no model list at {url} (404): {who} not checked")
    return Result("warning", label, f"{url} answered {status}: {who} not confirmed")


def _key_name(i: int, count: int, variables: list[str], none: bool) -> str:
    if none:
        return "no key"
    if count == 1 and len(variables) == 1:
        return f"${variables[0]}"
    return f"keys[{i}]"


def _count_models(response: httpx.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    listing = body.get("data", body.get("models"))
    return len(listing) if isinstance(listing, list) else None


def _client(ctx: Context, base_url: str) -> httpx.Client:
    """A client that reaches ``base_url`` as the engine would, but never through
    a loopback proxy (that would be omniroute itself, perhaps not running)."""
    scheme = urlsplit(base_url).scheme
    proxy = ctx.env.get(f"{scheme}_proxy") or ctx.env.get(f"{scheme.upper()}_PROXY")
    if proxy and (_loopback(proxy) or _loopback(base_url)):
        proxy = None
    return httpx.Client(timeout=ctx.timeout, proxy=proxy or None, trust_env=False,
                        verify=httpx.create_ssl_context(), follow_redirects=False)


def _loopback(url: str) -> bool:
    host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
