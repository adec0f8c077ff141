"""Running the real CLIs through the proxy, and reading what reached the provider.

A CLI gets a fresh HOME (its config, sessions and caches stay in the test's
temp dir), only the environment lines its README section gives, and a hard
timeout: Codex retries forever when it cannot reach its endpoint, so a hung
CLI is killed with its whole process group and the test fails with its output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_harness import ROOT, Mitmdump, load_ca_script

BIN = ROOT / ".cache" / "clients" / "node_modules" / ".bin"
REACH_BIN = ROOT / ".cache" / "clients-reach" / "node_modules" / ".bin"
INSTALL = ROOT / "scripts" / "install_clients.sh"
CLI_TIMEOUT = 150.0
CLIENT_KEY = "sk-cli-client-key-never-forwarded"
PROOF_TEXT = "omniroute-proof"
TOOL_OUTPUT = "tool-ran-ok"
FINAL_TEXT = "The file is written: all done."
UPSTREAM_MODEL = "cli-upstream"
SIDE_MODEL = "cli-side"


def proxy_env(home: Path, mitm: Mitmdump) -> dict[str, str]:
    """What every CLI gets: a private HOME and the proxy, nothing of ours
    (no real API key of the developer can leak into a test)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "CI": "1",
        "HTTPS_PROXY": mitm.url,
        "HTTP_PROXY": mitm.url,
        "https_proxy": mitm.url,
        "http_proxy": mitm.url,
    }
    return env


def env_line(mitm: Mitmdump, client: str) -> dict[str, str]:
    """What the README's one line sets: `eval "$(scripts/ca.py env --client CLIENT)"`."""
    lines = load_ca_script().env_lines(mitm.confdir, port=mitm.port, client=client)
    return dict(line.removeprefix("export ").split("=", 1) for line in lines
                if line.startswith("export "))


@dataclass
class CliResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv[:3])} ... -> exit {self.returncode} in {self.seconds:.1f}s\n"
            f"--- stdout (tail) ---\n{self.stdout[-4000:]}\n"
            f"--- stderr (tail) ---\n{self.stderr[-4000:]}"
        )

    def json_lines(self) -> Iterator[dict[str, Any]]:
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def run_cli(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = CLI_TIMEOUT
) -> CliResult:
    """Run a CLI to completion; on timeout kill its process group and fail."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        result = CliResult(argv, -9, out, err, time.monotonic() - start)
        raise AssertionError(f"CLI timed out after {timeout}s\n{result.describe()}") from None
    return CliResult(argv, proc.returncode, out, err, time.monotonic() - start)


# --------------------------------------------------------------- upstream views


@dataclass
class ToolExchange:
    """A tool call in an upstream request's history and the result sent for it."""

    call_id: str | None
    name: str
    arguments: Any
    result_id: str | None
    result_name: str | None
    result: str


def _text_of(content: Any) -> str:
    """Tool result content in any format, flattened to text for assertions."""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


def tool_exchanges(fmt: str, body: dict[str, Any]) -> list[ToolExchange]:
    """Every (call, result) pair of an upstream request body, paired the way
    the provider pairs them: by id (openai-chat, anthropic), by id or by
    position and name (gemini)."""
    if fmt == "openai-chat":
        return _chat_exchanges(body)
    if fmt == "anthropic":
        return _anthropic_exchanges(body)
    if fmt == "gemini":
        return _gemini_exchanges(body)
    raise ValueError(f"no tool view for {fmt}")


def _chat_exchanges(body: dict[str, Any]) -> list[ToolExchange]:
    results = {m.get("tool_call_id"): m for m in body["messages"] if m.get("role") == "tool"}
    out = []
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            result = results.get(call["id"])
            out.append(
                ToolExchange(
                    call["id"],
                    call["function"]["name"],
                    json.loads(call["function"]["arguments"]),
                    result and result["tool_call_id"],
                    None,
                    _text_of(result["content"]) if result else "",
                )
            )
    return out


def _anthropic_exchanges(body: dict[str, Any]) -> list[ToolExchange]:
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    results = {b["tool_use_id"]: b for b in blocks if b.get("type") == "tool_result"}
    return [
        ToolExchange(
            b["id"],
            b["name"],
            b["input"],
            b["id"] if b["id"] in results else None,
            None,
            _text_of(results[b["id"]].get("content")) if b["id"] in results else "",
        )
        for b in blocks
        if b.get("type") == "tool_use"
    ]


def _gemini_exchanges(body: dict[str, Any]) -> list[ToolExchange]:
    parts = [p for c in body["contents"] for p in c.get("parts", [])]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
    out = []
    for i, call in enumerate(calls):
        if call.get("id"):
            match = next((r for r in responses if r.get("id") == call["id"]), None)
        else:
            match = responses[i] if i < len(responses) else None
        out.append(
            ToolExchange(
                call.get("id"),
                call["name"],
                call.get("args"),
                match.get("id") if match else None,
                match.get("name") if match else None,
                _text_of(match.get("response")) if match else "",
            )
        )
    return out


def tool_names(fmt: str, body: dict[str, Any]) -> set[str]:
    """The function tools an upstream request offers."""
    if fmt == "gemini":
        return {d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])}
    if fmt == "openai-chat":
        return {t["function"]["name"] for t in body.get("tools", []) if t.get("type") == "function"}
    return {t["name"] for t in body.get("tools", [])}


def reasoning_params(fmt: str, body: dict[str, Any]) -> Any:
    """The reasoning knob of an upstream request, in the target's own terms."""
    if fmt == "openai-chat":
        return body.get("reasoning_effort")
    if fmt == "anthropic":
        return {
            "thinking": body.get("thinking"),
            "effort": (body.get("output_config") or {}).get("effort"),
        }
    if fmt == "gemini":
        return (body.get("generationConfig") or {}).get("thinkingConfig")
    raise ValueError(fmt)


@dataclass
class ClientRequest:
    """A request as the CLI sent it (before the front redirected it)."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    status: int | None


def client_requests(
    mitm: Mitmdump,
    calls: tuple[str, int] | None = None,
    timeout: float = 10.0,
    until: Callable[[list[ClientRequest]], bool] | None = None,
) -> list[ClientRequest]:
    """The flows mitmdump saved (``save_stream_file``), oldest first. A flow
    is written when it ends, which may be just after the CLI exits: with
    ``calls=(url_part, n)``, wait until n POSTs to such URLs are in the file;
    with ``until``, until it holds of the flows."""
    if calls is not None:
        part, count = calls
        until = lambda flows: sum(  # noqa: E731
            1 for r in flows if r.method == "POST" and part in r.url
        ) >= count
    deadline = time.monotonic() + timeout
    while True:
        flows = _saved_flows(mitm)
        if until is None or until(flows) or time.monotonic() > deadline:
            return flows
        time.sleep(0.1)


def _saved_flows(mitm: Mitmdump) -> list[ClientRequest]:
    with warnings.catch_warnings():  # mitmproxy's flow filter uses pyparsing's old names
        warnings.simplefilter("ignore", DeprecationWarning)
        from mitmproxy import http, io

    out = []
    with open(mitm.confdir / "flows", "rb") as f:
        for flow in io.FlowReader(f).stream():
            if not isinstance(flow, http.HTTPFlow):
                continue
            req = flow.request
            url = req.headers.get("x-omniroute-original-url") or req.pretty_url
            try:
                body = json.loads(req.get_content() or b"null")
            except ValueError:
                body = None
            status = flow.response.status_code if flow.response else None
            headers = {k.lower(): v for k, v in req.headers.items()}
            out.append(ClientRequest(req.method, url, headers, body, status))
    return out


def usage_rows(mitm: Mitmdump, count: int) -> list[dict[str, Any]]:
    """The usage rows (``scripts/usage --rows``), once ``count`` are written
    (the store commits in batches) or after 20 s."""
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(found) < count:
        if (mitm.confdir / "data" / "omniroute.sqlite").exists():
            out = subprocess.run(
                [str(ROOT / "scripts/usage"), "--data-dir", str(mitm.confdir / "data"),
                 "--json", "--rows"], capture_output=True, text=True, timeout=60, check=True)
            found = json.loads(out.stdout)
        time.sleep(0.2)
    return found


def usage_endpoints(mitm: Mitmdump, count: int) -> list[str]:
    """The usage rows' client endpoints (see :func:`usage_rows`)."""
    return [row["client_endpoint"] for row in usage_rows(mitm, count)]
