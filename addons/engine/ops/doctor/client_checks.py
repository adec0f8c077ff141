"""Whether the installed CLIs would go through the proxy and trust its CA.

Read from this shell's environment and the CLIs' own files
(~/.claude/settings.json "env", ~/.gemini/.env, ~/.codex/config.toml). Never
an error: a client that is not set up gets a warning with the line to eval.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from omniroute_mitm.engine.core import endpoints, paths, trust

from .base import Context, Result, show

# client -> (the variables that can carry the CA, the variable that moves its endpoint)
CLIENTS = {
    "claude": (("NODE_EXTRA_CA_CERTS",), "ANTHROPIC_BASE_URL"),
    "codex": (("CODEX_CA_CERTIFICATE", "SSL_CERT_FILE"), "OPENAI_BASE_URL"),
    "gemini": (("NODE_EXTRA_CA_CERTS",), "GOOGLE_GEMINI_BASE_URL"),
}


def env_command(client: str, port: int) -> str:
    return f'eval "$({paths.ca_command()} env --port {port} --client {client})"'


def check_clients(ctx: Context) -> Iterator[Result]:
    cert = trust.load_cert(ctx.confdir)
    for client in CLIENTS:
        if shutil.which(client, path=ctx.env.get("PATH", "")) is None:
            own = ctx.client_bin
            if own is None or shutil.which(client, path=str(own)) is None:
                yield Result("ok", client, "not installed")
                continue
            yield Result("ok", client, f"installed by scripts/install_clients.sh in {show(own)}, "
                         "not on PATH", f'export PATH="{own}:$PATH" to run it by hand')  # fmt: skip
        env = client_env(ctx, client)
        problems = [p for p in (_proxy_problem(env, ctx.port),
                                _ca_problem(env, client, cert)) if p]
        if problems:
            yield Result("warning", client, "; ".join(problems), env_command(client, ctx.port))
        else:
            yield Result("ok", client, f"uses the proxy at 127.0.0.1:{ctx.port} and trusts the CA")
        if endpoint := _endpoint_problem(ctx, env, client):
            yield endpoint


def client_env(ctx: Context, client: str) -> dict[str, str]:
    """The variables the client sees: its own settings file, then this shell's."""
    files: dict[str, str] = {}
    if client == "claude":
        settings = _json(ctx.home / ".claude" / "settings.json")
        env = settings.get("env") if isinstance(settings, dict) else None
        files = {k: str(v) for k, v in env.items()} if isinstance(env, dict) else {}
    elif client == "gemini":
        files = _dotenv(ctx.home / ".gemini" / ".env")
    return files | {k: v for k, v in ctx.env.items() if v}


def _proxy_problem(env: Mapping[str, str], port: int) -> str | None:
    proxy = env.get("HTTPS_PROXY") or env.get("https_proxy")
    if not proxy:
        return "HTTPS_PROXY is not set"
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port != port:
        return f"HTTPS_PROXY is {proxy}, not http://127.0.0.1:{port}"
    return None


def _ca_problem(env: Mapping[str, str], client: str, cert: x509.Certificate | None
                ) -> str | None:
    if cert is None:
        return None  # the CA check already says there is none
    names = CLIENTS[client][0]
    if any(env.get(n) and trust.in_bundle(cert, env[n]) for n in names):
        return None
    if trust.system_trusts(cert):
        return None
    set_to = [f"{n}={env[n]}" for n in names if env.get(n)]
    where = f" ({', '.join(set_to)})" if set_to else ""
    return f"does not trust the CA: {' or '.join(names)} does not hold it{where}"


def _endpoint_problem(ctx: Context, env: Mapping[str, str], client: str) -> Result | None:
    name = CLIENTS[client][1]
    url, source, fix = env.get(name), name, f"unset {name}"
    if client == "codex" and (found := _codex_base_url(ctx.home)):
        url, source = found
        fix = f"set {source} to https://api.openai.com/v1"
    host = urlsplit(url).hostname if url else None
    if not host or endpoints.catalog(ctx.config).knows(host):
        return None
    return Result("warning", client, f"calls {host} ({source}), which the proxy does not "
                  "intercept", fix)


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
