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
from omniroute_mitm.engine.core.config import Config, Provider, _resolve_provider, split_target
from omniroute_mitm.engine.execute.upstream import auth_headers
from pydantic import ValidationError

from .base import Context, Result
from .setup_checks import provider_vars

# The largest page each API allows, so the list is whole in one call.
PAGE = {"anthropic": {"limit": "1000"}, "gemini": {"pageSize": "1000"}}


def check_providers(ctx: Context) -> Iterator[Result]:
    if ctx.config is None:
        return
    names = list(ctx.raw)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        for results in pool.map(lambda name: list(check_provider(ctx, name)), names):
            yield from results


def check_provider(ctx: Context, name: str) -> Iterator[Result]:
    try:
        provider, misses = _resolve_provider(name, Provider.model_validate(ctx.raw[name]), ctx.env)
    except ValidationError:
        return  # the config check said why
    if misses:
        return  # the key check said which variable
    label = f"provider {name}"
    keys = [k.get_secret_value() for k in provider.keys] or [None]
    variables = provider_vars(ctx.raw[name])
    listed: set[str] | None = None
    with _client(ctx, provider.base_url) as client:
        for i, key in enumerate(keys):
            who = _key_name(i, len(keys), variables, key is None)
            result, ids = _probe(client, label, provider, key, who)
            yield result
            listed = listed if ids is None else ids
            if result.message.startswith("cannot reach"):
                return  # unreachable: the other keys would say the same
    if listed is not None and ctx.config is not None:
        unknown = [m for m in used_models(ctx.config, name) if not _listed_as(m, listed)]
        if unknown:
            some = ", ".join(sorted(listed)[:5])
            yield Result(
                "warning",
                label,
                "not in its model list: " + ", ".join(unknown),
                f"check the targets naming {name}/... (it lists {some}, ...)",
            )


def _listed_as(model: str, listed: set[str]) -> bool:
    """Listed, or an alias of a dated id (claude-sonnet-4-5 -> claude-sonnet-4-5-20250929)."""
    return model in listed or any(i.startswith(model + "-") for i in listed)


def used_models(config: Config, provider: str) -> list[str]:
    """The models the combos and routes ask of ``provider``, once each."""
    targets = [route.to for route in config.routes]
    targets += [t for combo in config.combos.values() for t in combo.targets]
    parts = [split_target(t) for t in targets]
    return list(dict.fromkeys(p[1] for p in parts if p is not None and p[0] == provider))


def _probe(
    client: httpx.Client, label: str, provider: Provider, key: str | None, who: str
) -> tuple[Result, set[str] | None]:
    url = f"{provider.base_url}/models"
    headers = auth_headers(provider, key) | {
        h: v.get_secret_value() for h, v in provider.headers.items()
    }
    try:
        response = client.get(url, headers=headers, params=PAGE.get(provider.format))
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return Result(
            "error",
            label,
            f"cannot reach {url}: {reason}",
            f"check providers.{label.split()[1]}.base_url and the network",
        ), None
    status = response.status_code
    if status in (401, 403):
        return Result(
            "error",
            label,
            f"{who} refused ({status} from {url})",
            f"check the key in {who}"
            if who.startswith("$")
            else f"check providers.{label.split()[1]}.keys",
        ), None
    if status == 200:
        ids = _listed(response)
        listed = f", {len(ids)} models listed" if ids is not None else ""
        return Result("ok", label, f"{provider.base_url} answers, {who} accepted{listed}"), ids
    if status == 404:
        return Result("warning", label, f"no model list at {url} (404): {who} not checked"), None
    return Result("warning", label, f"{url} answered {status}: {who} not confirmed"), None


def _key_name(i: int, count: int, variables: list[str], none: bool) -> str:
    if none:
        return "no key"
    if count == 1 and len(variables) == 1:
        return f"${variables[0]}"
    return f"keys[{i}]"


def _listed(response: httpx.Response) -> set[str] | None:
    """The model ids of a whole listing (None if unreadable or only a first page)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("has_more") or body.get("nextPageToken"):
        return None
    listing = body.get("data", body.get("models"))
    if not isinstance(listing, list):
        return None
    ids = (m.get("id") or m.get("name") for m in listing if isinstance(m, dict))
    return {str(i).removeprefix("models/") for i in ids if i}


def _client(ctx: Context, base_url: str) -> httpx.Client:
    """A client that reaches ``base_url`` as the engine would, but never through
    a loopback proxy (that would be omniroute itself, perhaps not running)."""
    scheme = urlsplit(base_url).scheme
    proxy = ctx.env.get(f"{scheme}_proxy") or ctx.env.get(f"{scheme.upper()}_PROXY")
    if proxy and (_loopback(proxy) or _loopback(base_url)):
        proxy = None
    return httpx.Client(
        timeout=ctx.timeout,
        proxy=proxy or None,
        trust_env=False,
        verify=httpx.create_ssl_context(),
        follow_redirects=False,
    )


def _loopback(url: str) -> bool:
    host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
