"""The start-up summary: what is routed where, what is missing, what to paste.

Pure functions of the config and a few facts about the environment; each
returns the lines the front logs. After a reload, :func:`reload_lines` gives
the change as a diff when it is short, the whole config part otherwise.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, trust
from .config import Config, ConfigError, load_config

MAX_DIFF = 6
"""A reload whose diff has more lines than this is shown whole."""

# The format a client speaks -> its `scripts/ca.py env --client` name and label.
CLIENTS = {
    "anthropic": ("claude", "Claude Code"),
    "openai-responses": ("codex", "Codex"),
    "gemini": ("gemini", "Gemini CLI"),
    "openai-chat": ("sdk", "OpenAI Chat SDKs"),
}


# The engine's pages, reached through the proxy (a browser or curl that uses it).
PAGES = (
    ("dashboard", "http://omniroute/"),  # usage, recent requests, health (HTML)
    ("status", "http://omniroute/status"),  # each combo's targets and keys (JSON)
)


@dataclass(frozen=True)
class Setting:
    """What the summary says besides the config."""

    proxy: str | None = None
    """host:port the proxy listens on."""
    confdir: Path | None = None
    """Where the CA is (mitmproxy's confdir)."""
    system_trusts: bool | None = None
    """Whether the system store holds the CA (None: cannot tell)."""
    urls: Sequence[str] = field(default_factory=tuple)
    """Extra lines: the dashboard and status pages, once they exist."""
    constrained: bool = True
    """Whether the CA is name-constrained (the project's, not mitmproxy's own)."""
    offline_clients: bool | None = None
    """``omniroute_offline_clients`` (None: not said)."""
    proxy_users: bool = False
    """``proxyauth`` is set: each client's line names its user."""


def route_lines(config: Config) -> list[str]:
    """``client/model glob -> combo -> targets``, one per route, in match order."""
    lines = []
    for route in config.routes:
        match = route.match
        left = f"{match.client or '*'}/{match.model or '*'}"
        if match.host:
            left += f" (host {match.host})"
        right = route.to
        if route.to in config.combos:
            right += " -> " + ", ".join(config.combos[route.to].targets)
        lines.append(f"route {left} -> {right}")
    return lines


def config_lines(config: Config, path: str | os.PathLike[str]) -> list[str]:
    """The part of the summary a config reload can change."""
    lines = [f"config {_show(path)}"]
    routes = route_lines(config)
    if routes:
        lines += routes + ["unmatched model calls go native (the vendor the client called)"]
    else:
        lines.append("no routes: every model call goes native (add routes to the config)")
    for name, var in sorted(config.disabled.items()):
        lines.append(f"provider {name} disabled: ${var} is not set (export it and restart)")
    web = config.web_search
    if web.backend is not None:
        where = f" at {web.url}" if web.url else ""
        lines.append(f"web search on targets without one: {web.backend}{where}")
    return lines


def startup_lines(
    config: Config | None, path: str | os.PathLike[str], setting: Setting
) -> list[str]:
    """The whole summary; ``config`` is None when the config did not load."""
    lines = config_lines(config, path) if config is not None else [f"config {_show(path)}"]
    lines.append(ca_line(setting))
    if setting.proxy:
        lines.append(f"proxy http://{setting.proxy} (HTTPS_PROXY for the clients)")
    lines += env_lines(config, setting)
    lines += offline_lines(setting)
    lines += page_lines(setting)
    lines += list(setting.urls)
    lines.append(f"check the set-up: {_doctor_command(path, setting.proxy)}")
    return lines


def ca_line(setting: Setting) -> str:
    if setting.confdir is None:
        return "CA: none yet (run scripts/ca.py generate)"
    cert = _show(Path(setting.confdir) / "mitmproxy-ca-cert.pem")
    if not setting.constrained:
        return (
            f"CA {cert}: not name-constrained (mitmproxy's own?): use the project's "
            "(.venv/bin/python scripts/ca.py generate; no --set confdir) and restart"
        )
    if setting.system_trusts:
        return f"CA {cert}: trusted by the system store"
    if setting.system_trusts is None:
        return f"CA {cert}: the clients trust it through the env line below"
    return (
        f"CA {cert}: not in the system store; the env line below makes each client "
        "trust it (or: sudo .venv/bin/python scripts/ca.py install)"
    )


def env_lines(config: Config | None, setting: Setting) -> list[str]:
    """Which `eval` line each routed client's shell needs."""
    host, _, port = (setting.proxy or "127.0.0.1:8080").rpartition(":")
    command = f"{paths.ca_command()} env --port {port}"
    if setting.proxy_users:  # a team's gateway: each user's machine, their name
        shown = "GATEWAY-HOST" if host.strip("[]") in ("", "*", "0.0.0.0", "::") else host
        command += f" --host {shown} --user USER"
    formats = [r.match.client for r in config.routes] if config is not None else []
    if not formats or None in formats:
        return [
            f'client env: eval "$({command} --client claude)" (or --client codex | gemini | sdk)'
        ]
    lines = []
    for fmt in dict.fromkeys(formats):  # route order, once each
        assert fmt is not None
        flag, label = CLIENTS[fmt]
        lines.append(f'env for {label}: eval "$({command} --client {flag})"')
    return lines


def offline_lines(setting: Setting) -> list[str]:
    if setting.offline_clients is None:
        return []
    if setting.offline_clients:
        return ["offline clients: on (the CLIs' side calls to their vendors are answered here)"]
    return [
        "offline clients: off (offline or behind a firewall, add --set "
        "omniroute_offline_clients=true: the CLIs' side calls then get local answers "
        "instead of 'Name or service not known' errors)"
    ]


def block(title: str, lines: Sequence[str]) -> str:
    """One log message: a title and its lines, indented."""
    return "\n  ".join([title, *lines])


def page_lines(setting: Setting) -> list[str]:
    """One line: the engine's pages and how to reach them (only through the proxy)."""
    proxy = f"http://{setting.proxy}" if setting.proxy else "http://127.0.0.1:8080"
    pages = " and ".join(f"{name} {url}" for name, url in PAGES)
    return [f"{pages} through the proxy (e.g. curl -x {proxy} {PAGES[-1][1]})"]


def reload_lines(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """What changed between two :func:`config_lines`: ``-``/``+`` lines when
    few, the new lines whole when many, one line when nothing changed."""
    removed = [f"- {line}" for line in old if line not in new]
    added = [f"+ {line}" for line in new if line not in old]
    if not removed and not added:
        return ["routes unchanged"]
    if len(removed) + len(added) > MAX_DIFF:
        return list(new)
    return removed + added


def _doctor_command(path: str | os.PathLike[str], proxy: str | None) -> str:
    command = f"{shlex.quote(_show(Path(sys.executable).parent / 'omniroute'))} doctor"
    if Path(path).resolve() != paths.config_file().resolve():
        command += f" --config {shlex.quote(_show(path))}"
    port = proxy.rpartition(":")[2] if proxy else "8080"
    return command if port == "8080" else f"{command} --port {port}"


def _python() -> str:
    return shlex.quote(_show(sys.executable))


def _show(path: str | os.PathLike[str]) -> str:
    return paths.shown(path)


def make_setting(
    proxy: str | None,
    confdir: str | os.PathLike[str],
    urls: Sequence[str] = (),
    offline_clients: bool | None = None,
    proxy_users: bool = False,
) -> Setting:
    """The facts :func:`startup_lines` needs, read from the CA in ``confdir``."""
    cert = trust.load_cert(confdir)
    if cert is None:
        return Setting(proxy=proxy, urls=tuple(urls), offline_clients=offline_clients,
                       proxy_users=proxy_users)  # fmt: skip
    return Setting(
        proxy,
        Path(confdir),
        trust.system_trusts(cert),
        tuple(urls),
        trust.constrained(cert),
        offline_clients,
        proxy_users,
    )


def load_quietly(path: str | os.PathLike[str]) -> Config | None:
    """The config for the summary alone (an external engine reports its own errors)."""
    try:
        return load_config(path)
    except ConfigError:
        return None
