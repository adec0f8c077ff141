"""Whether the installed clients would go through the proxy and trust its CA,
and whether the endpoint each one calls is one the proxy intercepts.

Read from this shell's environment and the clients' own files
(~/.claude/settings.json "env", ~/.gemini/.env, ~/.codex/config.toml,
~/.qwen/.env, ~/.config/opencode/opencode.json, ~/.env and
~/.aider.conf.yml). Never an error: a client that is not set up gets a
warning with the line to eval.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from omniroute_mitm.engine.core import endpoints, paths, trust

from .base import Context, Result, show


class Client(NamedTuple):
    ca_vars: tuple[str, ...]
    """The variables that can carry the CA."""
    endpoint_var: str | None
    """The variable that moves its endpoint."""
    system_roots: bool = True
    """Whether a CA in the system's trust store is enough (Python's httpx
    reads certifi's roots, not the system's)."""


# the command name -> how it is set up
CLIENTS = {
    "claude": Client(("NODE_EXTRA_CA_CERTS",), "ANTHROPIC_BASE_URL"),
    "codex": Client(("CODEX_CA_CERTIFICATE", "SSL_CERT_FILE"), "OPENAI_BASE_URL"),
    "gemini": Client(("NODE_EXTRA_CA_CERTS",), "GOOGLE_GEMINI_BASE_URL"),
    "qwen": Client(("NODE_EXTRA_CA_CERTS",), "OPENAI_BASE_URL"),
    "opencode": Client(("NODE_EXTRA_CA_CERTS",), None),  # its providers' baseURL (opencode.json)
    "aider": Client(("SSL_CERT_FILE",), "OPENAI_API_BASE", system_roots=False),
}


def env_command(client: str, port: int) -> str:
    return f'eval "$({paths.ca_command()} env --port {port} --client {client})"'


def check_clients(ctx: Context) -> Iterator[Result]:
    cert = trust.load_cert(ctx.confdir)
    for client in CLIENTS:
        if shutil.which(client, path=ctx.env.get("PATH", "")) is None:
            own = _own_install(ctx, client)
            if own is None:
                yield Result("ok", client, "not installed")
                continue
            yield Result("ok", client, f"installed by scripts/install_clients.sh in {show(own)}, "
                         "not on PATH", _by_hand(own, client))  # fmt: skip
        env = client_env(ctx, client)
        problems = [p for p in (_proxy_problem(env, ctx.port), _ca_problem(env, client, cert)) if p]
        if problems:
            yield Result("warning", client, "; ".join(problems), env_command(client, ctx.port))
        else:
            yield Result("ok", client, f"uses the proxy at 127.0.0.1:{ctx.port} and trusts the CA")
        yield from _endpoint_problems(ctx, env, client)


def _by_hand(own: Path, client: str) -> str:
    if (own / "activate").exists():  # a venv's bin (Aider's): its python must not shadow yours
        return f'alias {client}="{own / client}" to run it by hand'
    return f'export PATH="{own}:$PATH" to run it by hand'


def _own_install(ctx: Context, client: str) -> Path | None:
    """The project's own install of ``client`` (scripts/install_clients.sh), if any."""
    for own in (ctx.client_bin, *ctx.client_bins):
        if own is not None and shutil.which(client, path=str(own)) is not None:
            return own
    return None


def client_env(ctx: Context, client: str) -> dict[str, str]:
    """The variables the client sees: its own settings file, then this shell's."""
    files: dict[str, str] = {}
    if client == "claude":
        settings = _json(ctx.home / ".claude" / "settings.json")
        env = settings.get("env") if isinstance(settings, dict) else None
        files = {k: str(v) for k, v in env.items()} if isinstance(env, dict) else {}
    elif client in ("gemini", "qwen"):  # both read ~/.<name>/.env
        files = _dotenv(ctx.home / f".{client}" / ".env")
    elif client == "aider":  # Aider reads a .env in the home folder too
        files = _dotenv(ctx.home / ".env")
    return files | {k: v for k, v in ctx.env.items() if v}


def _proxy_problem(env: Mapping[str, str], port: int) -> str | None:
    proxy = env.get("HTTPS_PROXY") or env.get("https_proxy")
    if not proxy:
        return "HTTPS_PROXY is not set"
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port != port:
        return f"HTTPS_PROXY is {proxy}, not http://127.0.0.1:{port}"
    return None


def _ca_problem(env: Mapping[str, str], client: str, cert: x509.Certificate | None) -> str | None:
    if cert is None:
        return None  # the CA check already says there is none
    names = CLIENTS[client].ca_vars
    if any(env.get(n) and trust.in_bundle(cert, env[n]) for n in names):
        return None
    if CLIENTS[client].system_roots and trust.system_trusts(cert):
        return None
    set_to = [f"{n}={env[n]}" for n in names if env.get(n)]
    where = f" ({', '.join(set_to)})" if set_to else ""
    return f"does not trust the CA: {' or '.join(names)} does not hold it{where}"


def _endpoint_problems(ctx: Context, env: Mapping[str, str], client: str) -> Iterator[Result]:
    """A warning for each endpoint the client is set to call that the proxy
    does not intercept (neither the catalog nor config.yaml ``endpoints:``)."""
    known = endpoints.catalog(ctx.config).knows
    for url, source, fix in _endpoints(ctx, env, client):
        host = urlsplit(url).hostname
        if host and not known(host):
            fix = fix or (
                f"point {source} at a catalogued vendor, or add {host} to "
                "config.yaml endpoints: (then regenerate the CA)"
            )
            yield Result("warning", client, f"calls {host} ({source}), which the proxy does not "
                         "intercept", fix)  # fmt: skip


def _endpoints(ctx: Context, env: Mapping[str, str], client: str) -> Iterator[tuple[str, str, str]]:
    """(url, where it is set, the fix) for each endpoint the client's settings name."""
    if client == "codex" and (found := _codex_base_url(ctx.home)):
        yield found[0], found[1], f"set {found[1]} to https://api.openai.com/v1"
        return
    if client == "opencode":
        yield from _opencode_base_urls(ctx, env)
        return
    name = CLIENTS[client].endpoint_var
    if client == "aider" and not (name and env.get(name)):
        if found := _aider_base_url(ctx.home):
            yield found[0], found[1], ""
        return
    if name and env.get(name):
        yield env[name], name, f"unset {name}" if client in ("claude", "codex", "gemini") else ""


def _opencode_base_urls(ctx: Context, env: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    """Each provider's ``options.baseURL`` in OpenCode's config files."""
    paths = [ctx.home / ".config" / "opencode" / "opencode.json"]
    if env.get("OPENCODE_CONFIG"):
        paths.append(Path(env["OPENCODE_CONFIG"]))
    for path in paths:
        config = _json(path)
        providers = config.get("provider") if isinstance(config, dict) else None
        for name, provider in providers.items() if isinstance(providers, dict) else ():
            options = provider.get("options") if isinstance(provider, dict) else None
            url = options.get("baseURL") if isinstance(options, dict) else None
            if isinstance(url, str):
                yield url, f"{show(path)} provider.{name}.options.baseURL", ""


def _aider_base_url(home: Path) -> tuple[str, str] | None:
    path = home / ".aider.conf.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    url = data.get("openai-api-base") if isinstance(data, dict) else None
    return (url, f"{show(path)} openai-api-base") if isinstance(url, str) else None


def _codex_base_url(home: Path) -> tuple[str, str] | None:
    path = home / ".codex" / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    chosen = data.get("model_provider")
    provider = (data.get("model_providers") or {}).get(chosen) if chosen else None
    if isinstance(provider, dict) and isinstance(provider.get("base_url"), str):
        return provider["base_url"], f"{show(path)} model_providers.{chosen}.base_url"
    return None


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not name.startswith("#"):
            out[name.strip()] = value.strip().strip("'\"")
    return out
