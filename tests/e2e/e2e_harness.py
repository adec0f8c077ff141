"""End-to-end harness: a real ``mitmdump -s addons/omniroute.py`` subprocess.

Nothing may leave the machine. Three locks make sure of it:
- the config routes every model (a catch-all last route) to providers on
  127.0.0.1, so no model call goes ``native``;
- ``offline_guard.py`` (loaded as a second addon) kills any connection
  mitmproxy itself opens to a non-loopback address, and logs it;
- the subprocess's HTTP(S)_PROXY points at a closed loopback port (with
  NO_PROXY for loopback), so the engine's httpx client cannot reach a real
  host either.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MITMDUMP = Path(sys.executable).parent / "mitmdump"
ADDON = ROOT / "addons" / "omniroute.py"
GUARD = Path(__file__).resolve().parent / "offline_guard.py"
LISTENING = re.compile(r"proxy listening at .*?:(\d+)")
# Either mode's engine line: the first call then need not wait for its start.
ENGINE_READY = re.compile(r"omniroute engine (\(pid \d+\) )?listening at ")
GUARD_LINE = "OFFLINE-GUARD blocked"

FORMATS = ("openai-chat", "openai-responses", "anthropic", "gemini")
CLIENT_KEY = "sk-client-secret-do-not-forward"


def provider_key(name: str) -> str:
    return f"pk-{name}-injected"


def load_ca_script() -> Any:
    from omniroute_mitm.engine.ops import ca

    return ca


def make_confdir(path: Path) -> Path:
    """A confdir holding the project's name-constrained CA (scripts/ca.py)."""
    load_ca_script().generate(path)
    return path


def client_ssl_context(confdir: Path) -> ssl.SSLContext:
    """Trust only the project's CA: a leaf it cannot sign fails, as it should."""
    return ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))


def base_url(fmt: str, port: int) -> str:
    # config.yaml: "the URL before /chat/completions, /responses, /messages or
    # /models/{model}:generateContent"
    return f"http://127.0.0.1:{port}/v1beta" if fmt == "gemini" else f"http://127.0.0.1:{port}/v1"


def e2e_config(port: int, extra_providers: dict[str, Any] | None = None,
               extra_combos: dict[str, Any] | None = None,
               extra_routes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Providers ``fake-<format>`` on the fake provider; model ``to-<format>`` routes
    there; ``dead`` refuses connections; the catch-all keeps everything local."""
    providers: dict[str, Any] = {
        f"fake-{fmt}": {"format": fmt, "base_url": base_url(fmt, port),
                        "keys": [provider_key(fmt)]}
        for fmt in FORMATS
    }
    providers["dead"] = {"format": "openai-chat", "base_url": "http://127.0.0.1:1/v1",
                         "keys": [provider_key("dead")]}
    providers.update(extra_providers or {})
    routes = [{"match": {"model": f"to-{fmt}"}, "to": f"fake-{fmt}/upstream-{fmt}"}
              for fmt in FORMATS]
    routes += extra_routes or []
    routes.append({"match": {}, "to": "dead/catch-all"})  # never native: never the internet
    return {"providers": providers, "combos": dict(extra_combos or {}), "routes": routes}


def other(fmt: str) -> str:
    """The next format after ``fmt`` (a backup that must translate)."""
    return FORMATS[(FORMATS.index(fmt) + 1) % len(FORMATS)]


QUICK_ROUTER = {
    "rate_limit_cooldown": 0.001,
    "rate_limit_max": 0.001,
    "backoff": 0.001,
    "backoff_max": 0.001,
    "breaker_failures": 10000,
}
"""One test, one request's fault: cooldowns that other tests would meet are
kept tiny (the router's memory has its own tests)."""


def flaky_config(port: int, prefix: str, timeout: float,
                 extra_combos: dict[str, Any] | None = None,
                 **resilience: Any) -> dict[str, Any]:
    """The fault suites' config: providers ``flaky-<format>`` (timeout
    ``timeout``) next to ``fake-<format>``; combos ``<prefix>-<format>`` =
    ``[flaky-<format>/primary, fake-<other format>/backup]`` (the first leg
    passes the client's format through, the backup translates) and
    ``extra_combos``, each routed by its own name; a router that forgets at
    once, and ``resilience`` on top."""
    providers = {
        f"flaky-{fmt}": {"format": fmt, "base_url": base_url(fmt, port),
                         "keys": [provider_key(fmt)], "timeout": timeout}
        for fmt in FORMATS
    }
    combos = {f"{prefix}-{fmt}": {"targets": [f"flaky-{fmt}/primary", f"fake-{other(fmt)}/backup"]}
              for fmt in FORMATS}
    combos.update(extra_combos or {})
    routes = [{"match": {"model": name}, "to": name} for name in combos]
    config = e2e_config(port, providers, combos, routes)
    config["resilience"] = {**QUICK_ROUTER, **resilience}
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Mitmdump:
    """``mitmdump -p 0`` with the omniroute addon; learns its port from stdout."""

    def __init__(self, config: Path, confdir: Path, *extra: str) -> None:
        self.config, self.confdir, self.extra = config, confdir, extra
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.port: int | None = None
        self._listening = threading.Event()
        self._engine = threading.Event()
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        return [
            str(MITMDUMP), "-s", str(ADDON), "-s", str(GUARD),
            "--listen-host", "127.0.0.1", "-p", "0",
            "--set", f"confdir={self.confdir}",
            "--set", f"omniroute_config={self.config}",
            "--set", "connection_strategy=lazy",
            *self.extra,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        dead = "http://127.0.0.1:9"  # discard port: nothing listens there
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
            env[name] = dead
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
        env["OMNIROUTE_DATA_DIR"] = str(self.confdir / "data")  # never the repo's data/
        return env

    def start(self, timeout: float = 60.0, engine: bool = True) -> Mitmdump:
        """Started: listening, and (``engine``) its engine too."""
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=self.env(), cwd=ROOT, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not (self._listening.wait(0.05) and (self._engine.is_set() or not engine)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mitmdump did not start:\n" + self.output())
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if ENGINE_READY.search(line):
                self._engine.set()
            m = LISTENING.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._listening.set()

    def run_to_exit(self, timeout: float = 60.0) -> tuple[int, str]:
        """For a start that must fail: the exit status and the output."""
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=self.env(), cwd=ROOT, start_new_session=True,
        )
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return self.proc.returncode, out

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # mitmdump shuts down cleanly on SIGINT
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "\n".join(self.lines)

    def blocked(self) -> list[str]:
        """Connections the offline guard refused (should be none)."""
        return [line for line in self.lines if GUARD_LINE in line]


def copy_confdir(src: Path, dst: Path) -> Path:
    """The CA of ``src`` alone: never the usage store (``data/``) a mitmdump
    run on ``src`` itself left there, whose rows a test counting its own would
    find (the kill test did, after test_e2e_defaults ran in the same worker)."""
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("data"))
    return dst


def start_mitmdump(tmp: Path, ca_dir: Path, config: dict[str, Any], *extra: str) -> Mitmdump:
    """mitmdump on a copy of the CA and ``config`` written to ``tmp``; started."""
    confdir = copy_confdir(ca_dir, tmp / "confdir")
    return Mitmdump(write_config(tmp / "config.yaml", config), confdir, *extra).start()
