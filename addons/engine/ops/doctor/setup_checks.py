"""Checks of the installation and the config file (no network)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import yaml
from omniroute_mitm.engine.core.config import _ENV_VAR, ConfigError, _used_providers, parse_config

from .base import Context, Result, show

SETUP = "bash scripts/setup.sh"
MITMPROXY_RANGE = ((12, 2), (13, 0))


def check_python(ctx: Context) -> Iterator[Result]:
    version = ".".join(map(str, sys.version_info[:3]))
    yield Result("ok", "python", f"{version} ({sys.executable})")  # requires-python: 3.12+


def check_mitmproxy(ctx: Context) -> Iterator[Result]:
    try:
        version = metadata.version("mitmproxy")
    except metadata.PackageNotFoundError:
        yield Result("error", "mitmproxy", "not installed", SETUP)
        return
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    low, high = MITMPROXY_RANGE
    if not low <= parts < high:
        yield Result("error", "mitmproxy", f"{version} is not 12.2 or a later 12.x", SETUP)
    else:
        yield Result("ok", "mitmproxy", version)


def check_config(ctx: Context) -> Iterator[Result]:
    """The config's structure and references, with every ${VAR} taken as set
    (the key check says which are not)."""
    path = ctx.config_path
    name = f"config {show(path)}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc}"
        yield Result("error", name, reason, "pass --config PATH, or: git checkout config.yaml")
        return
    filled = dict(ctx.env) | {var: "http://x" for var in _ENV_VAR.findall(text)}
    try:
        ctx.config = parse_config(text, source=path.name, env=filled)
    except ConfigError as exc:
        for line in exc.lines:
            yield Result("error", "config", line, f"edit {show(path)}")
        return
    raw = yaml.safe_load(text) or {}
    ctx.raw = dict(raw.get("providers") or {})
    c = ctx.config
    yield Result(
        "ok",
        name,
        f"{len(c.providers)} provider(s), {len(c.combos)} combo(s), "
        f"{len(c.routes)} route(s)" + ("" if c.routes else ": every call goes native"),
    )


def provider_vars(raw: Any) -> list[str]:
    """The ${VAR}s a provider's entry names, in order, once each."""
    return list(dict.fromkeys(_ENV_VAR.findall(json.dumps(raw))))


def check_keys(ctx: Context) -> Iterator[Result]:
    if ctx.config is None:
        return
    used = _used_providers(ctx.config)
    for name, raw in ctx.raw.items():
        label = f"provider {name} key"
        variables = provider_vars(raw)
        missing = [v for v in variables if not ctx.env.get(v)]
        keys = raw.get("keys") if isinstance(raw, dict) else None
        if missing:
            fix = (
                f"export {missing[0]}=<your key> in the shell that starts mitmdump, then restart it"
            )
            why = ("is exported but empty" if missing[0] in ctx.env
                   else "is not set (or set without export)")  # fmt: skip
            if name in used:
                yield Result("error", label, f"${missing[0]} {why} and a route uses it", fix)
            else:
                yield Result("warning", label, f"${missing[0]} {why}: disabled", fix)
        elif variables:
            yield Result("ok", label, ", ".join(f"${v}" for v in variables) + " set")
        elif keys:
            yield Result("ok", label, f"{len(keys)} key(s) written in the config file")
        else:
            yield Result("ok", label, "no key (no auth header is sent)")
