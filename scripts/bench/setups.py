"""What the benchmark starts for each path: a set of processes and a Target."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from load import Target
from procs import Proc

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LITELLM_VERSION = "1.106.2"  # 1.106.x: has the chat-completions switch. Never 1.107.0.
LITELLM_VENV = ROOT / ".cache" / "bench-litellm"
CLIENT_KEY = "sk-bench-client"
DIRECT_TOKEN = "bench-direct-token"
MASTER_KEY = "sk-bench-master"
LAST_TURN = "Good, now run everything."
"""The last user turn's text in scripts/bench_inputs.py's long requests: each
request of a long run replaces it (the next turn of the same conversation)."""
LISTENING = r"proxy listening at .*?:(\d+)"


@dataclass(frozen=True)
class Client:
    """The client format a run's requests are in (``--client``): the native
    URL a client of that kind calls, how it sends its key, its short prompt,
    and the last event of a complete stream."""

    name: str
    format: str
    host: str
    path: str  # {model} is replaced for Gemini, whose model is in the path
    done_marker: bytes
    same_model: str  # routed to a provider of the client's own format
    cross_model: str = "bench-cross"  # routed to a provider of another format

    def url(self, model: str, base: str | None = None) -> str:
        return (base or self.host) + self.path.format(model=model)

    def headers(self, key: str) -> dict[str, str]:
        if self.name == "claude":
            return {"x-api-key": key, "anthropic-version": "2023-06-01"}
        if self.name == "gemini":
            return {"x-goog-api-key": key}
        return {"authorization": f"Bearer {key}"}

    def short(self, model: str) -> dict[str, Any]:
        prompt = "count to a few hundred"
        if self.name == "gemini":
            return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if self.name == "codex":
            return {"model": model, "stream": True, "input": prompt}
        return {"model": model, "max_tokens": 1000, "stream": True,
                "messages": [{"role": "user", "content": prompt}]}


CLIENTS = {
    "claude": Client("claude", "anthropic", "https://api.anthropic.com", "/v1/messages",
                     b"message_stop",
                     "bench-same"),
    "codex": Client("codex", "openai-responses", "https://api.openai.com", "/v1/responses",
                    b"response.completed",
                    "bench-same-responses"),
    "gemini": Client("gemini", "gemini", "https://generativelanguage.googleapis.com",
                     "/v1beta/models/{model}:streamGenerateContent?alt=sse", b'"finishReason"',
                     "bench-same-gemini"),
    # bench-cross goes to the Chat provider: a Chat client's crosses to Anthropic's
    "chat": Client("chat", "openai-chat", "https://api.openai.com", "/v1/chat/completions",
                   b"[DONE]", "bench-same-chat", "bench-cross-anthropic"),
}


def body(env: Env, model: str) -> dict[str, Any]:
    """A short prompt, or the run's long request of the client's shape (``--body-kb``)."""
    if env.template is None:
        return env.client.short(model)
    if env.client.name == "gemini":
        return env.template
    return {**env.template, "model": model, "stream": True}


def target(env: Env, model: str, key: str, base: str | None = None, **kw: Any) -> Target:
    """The request of a path: the client's URL (on ``base`` instead of the
    vendor's host when given), key, body and end-of-stream marker."""
    turn = None if env.template is None else LAST_TURN
    return Target(env.client.url(model, base), env.client.headers(key), body(env, model),
                  done_marker=env.client.done_marker, turn_text=turn, **kw)


@dataclass
class Path_:
    """One row of the table."""

    name: str
    target: Target
    levels: tuple[int, ...] | None = None  # None: the run's levels


@dataclass
class Setup:
    """Processes started together; their paths are measured while they run."""

    name: str
    start: Callable[[Setup], list[Path_]]
    procs: list[Proc] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@dataclass
class Env:
    """What all setups share: the provider, a CA, a scratch dir."""

    provider_url: str
    tmp: Path
    confdir: Path
    ssl_context: ssl.SSLContext
    events: int
    template: dict[str, Any] | None = None
    """The request every path sends (None: a short prompt)."""
    client: Client = CLIENTS["claude"]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def make_confdir(path: Path) -> tuple[Path, ssl.SSLContext]:
    from omniroute_mitm.engine.ops import ca

    ca.generate(path)
    return path, ssl.create_default_context(cafile=str(path / "mitmproxy-ca-cert.pem"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SAME_PROVIDER = {"claude": "bench-anthropic", "codex": "bench-responses", "gemini": "bench-gemini",
                 "chat": "bench-chat"}
"""The provider each client's same-format model goes to (see omniroute_config)."""


def omniroute_config(env: Env) -> Path:
    base = env.provider_url + "/v1"
    providers = {
        "bench-anthropic": {"format": "anthropic", "base_url": base, "keys": ["pk-anthropic"]},
        "bench-responses": {"format": "openai-responses", "base_url": base,
                            "keys": ["pk-responses"]},
        "bench-gemini": {"format": "gemini", "base_url": env.provider_url + "/v1beta",
                         "keys": ["pk-gemini"]},
        "bench-chat": {"format": "openai-chat", "base_url": base, "keys": ["pk-chat"]},
        "bench-429": {"format": "openai-chat", "base_url": base, "keys": ["fail429"]},
        "dead": {"format": "openai-chat", "base_url": "http://127.0.0.1:9/v1", "keys": ["x"]},
    }
    config = {
        "providers": providers,
        "combos": {"failover": {"targets": ["bench-429/first", "bench-chat/upstream-chat"]}},
        "routes": [
            {"match": {"model": "bench-same"}, "to": "bench-anthropic/bench-same"},
            {"match": {"model": "bench-same-responses"}, "to": "bench-responses/bench-same"},
            {"match": {"model": "bench-same-gemini"}, "to": "bench-gemini/bench-same"},
            {"match": {"model": "bench-same-chat"}, "to": "bench-chat/bench-same"},
            {"match": {"model": "bench-cross"}, "to": "bench-chat/upstream-chat"},
            {"match": {"model": "bench-cross-anthropic"}, "to": "bench-anthropic/upstream-chat"},
            {"match": {"model": "bench-failover"}, "to": "failover"},
            {"match": {}, "to": "dead/catch-all"},  # never native: never the internet
        ],
    }
    path = env.tmp / "omniroute.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def mitmdump(env: Env, name: str, *args: str) -> Proc:
    argv = [str(BIN / "mitmdump"), "--listen-host", "127.0.0.1", "-p", "0",
            "--set", f"confdir={env.confdir}", "--set", "connection_strategy=lazy", *args]
    return Proc(name, argv, LISTENING, env=child_env(), cwd=ROOT).start()


def wait_for_line(proc: Proc, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in proc.lines):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name}: no {text!r} line:\n" + "\n".join(proc.lines[-20:]))
        time.sleep(0.05)


def proxied(env: Env, proc: Proc, model: str) -> Target:
    assert proc.match is not None
    return target(env, model, CLIENT_KEY, proxy=f"http://127.0.0.1:{proc.match.group(1)}",
                  ssl_context=env.ssl_context)


def direct(env: Env) -> Callable[[Setup], list[Path_]]:
    def start(setup: Setup) -> list[Path_]:
        return [Path_("direct to the provider", target(env, "m", "pk", env.provider_url))]
    return start


def bare(env: Env) -> Callable[[Setup], list[Path_]]:
    def start(setup: Setup) -> list[Path_]:
        proc = mitmdump(env, "mitmdump (bare)", "-s", str(HERE / "redirect.py"),
                        "--set", f"bench_upstream={env.provider_url}")
        setup.procs.append(proc)
        return [Path_("bare mitmdump (redirect only)", proxied(env, proc, "m"))]
    return start


def omniroute(env: Env, mode: str, same: bool, failover: bool,
              state: str | None = None) -> Callable[[Setup], list[Path_]]:
    """``state``: omniroute_state (a redis:// URL), named ``MODE+redis``."""
    name = f"{mode}+redis" if state else mode

    def start(setup: Setup) -> list[Path_]:
        extra = ["--set", f"omniroute_engine_mode={mode}"] if mode != "default" else []
        if state:
            extra += ["--set", f"omniroute_state={state}"]
        addon = str(ROOT / "addons" / "omniroute.py")
        config = f"omniroute_config={omniroute_config(env)}"
        proc = mitmdump(env, f"mitmdump+omniroute ({name})", "-s", addon, "--set", config, *extra)
        setup.procs.append(proc)
        wait_for_line(proc, "omniroute engine ")  # either mode: measured from its start
        paths = []
        if same:
            paths.append(Path_(f"omniroute {name}, same format",
                               proxied(env, proc, env.client.same_model)))
        paths.append(Path_(f"omniroute {name}, cross-format",
                           proxied(env, proc, env.client.cross_model)))
        if failover:
            paths.append(Path_(f"omniroute {name}, 429 then next",
                               proxied(env, proc, "bench-failover"), levels=(1,)))
        return paths
    return start


def redis_server(tmp: Path) -> tuple[Proc, str]:
    """A Redis (or Valkey) server from PATH on a free loopback port, no persistence."""
    binary = shutil.which("valkey-server") or shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--state auto: no valkey-server or redis-server on PATH "
                         "(apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp / "redis"
    folder.mkdir()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no"]
    proc = Proc("redis-server", argv, r"Ready to accept connections", cwd=folder).start()
    return proc, f"redis://127.0.0.1:{port}/0"


def engine_direct(env: Env) -> Callable[[Setup], list[Path_]]:
    def start(setup: Setup) -> list[Path_]:
        argv = [str(BIN / "python"), "-m", "omniroute_mitm.engine",
                "--config", str(omniroute_config(env)),
                "--secret-file", str(env.tmp / "engine.secret"), "--direct"]
        proc_env = dict(child_env(), OMNIROUTE_DIRECT_TOKEN=DIRECT_TOKEN)
        proc = Proc("engine", argv, r"engine listening at (http://\S+)", env=proc_env,
                    cwd=ROOT).start()
        setup.procs.append(proc)
        assert proc.match is not None
        path = target(env, env.client.cross_model, DIRECT_TOKEN, proc.match.group(1))
        return [Path_("engine as base URL, cross-format", path)]
    return start


def ensure_litellm(log: Path) -> Path:
    """LiteLLM's proxy, pinned, in its own venv under .cache/ (installed once)."""
    python = LITELLM_VENV / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if python.exists():
        found = subprocess.run(check, capture_output=True, text=True).stdout.strip()
        if found == LITELLM_VERSION:
            return LITELLM_VENV / "bin" / "litellm"
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} (log: {log})",
          flush=True)
    with log.open("w") as out:
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True,
                       stdout=out, stderr=out)
        subprocess.run([str(python), "-m", "pip", "install", f"litellm[proxy]=={LITELLM_VERSION}"],
                       check=True, stdout=out, stderr=out)
    return LITELLM_VENV / "bin" / "litellm"


def litellm(env: Env, exe: Path) -> Callable[[Setup], list[Path_]]:
    def start(setup: Setup) -> list[Path_]:
        config = {
            "model_list": [{"model_name": "bench-cross", "litellm_params": {
                "model": "openai/upstream-chat", "api_base": env.provider_url + "/v1",
                "api_key": "pk-chat"}}],
            "litellm_settings": {"use_chat_completions_url_for_anthropic_messages": True,
                                 "telemetry": False},
            "general_settings": {"master_key": MASTER_KEY},
        }
        path = env.tmp / "litellm.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        proc_env = dict(child_env(), LITELLM_LOCAL_MODEL_COST_MAP="True",
                        LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES="True")
        # Through the venv's python: the scripts' shebangs name the path the venv
        # was created at (.cache may be shared by several worktrees).
        argv = [str(exe.parent / "python"), str(exe), "--config", str(path),
                "--host", "127.0.0.1", "--port", str(port)]
        proc = Proc(f"litellm {LITELLM_VERSION}", argv, r"Uvicorn running on", env=proc_env,
                    cwd=env.tmp).start(timeout=180)
        setup.procs.append(proc)
        path = target(env, "bench-cross", MASTER_KEY, f"http://127.0.0.1:{port}")
        return [Path_(f"LiteLLM {LITELLM_VERSION} proxy, cross-format", path)]
    return start
