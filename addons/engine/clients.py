"""Client quirks: side calls answered locally, and Gemini CLI's Code Assist envelope.

With ``omniroute_offline_clients`` on, the front answers these side calls
itself, so a client with no account (or no network) at its vendor still
works: Claude Code's settings, policy limits, feature flags and event
logging on api.anthropic.com; Codex's model list and plugin catalogue on
chatgpt.com (not its ChatGPT-login account discovery, whose answer is
unknown: that mode needs the network); Gemini CLI's Code Assist set-up calls
(loadCodeAssist, onboardUser, experiments, quota, metrics) on
cloudcode-pa.googleapis.com. Every other request to an AI host that is not
a model call gets a 404 in JSON: offline, the vendor is never contacted.

Each answer is the smallest one its client accepts without retrying
(observed with Claude Code 2.1.197, Codex CLI 0.169.0, Gemini CLI 0.61.0).

Gemini CLI logged in with Google calls cloudcode-pa.googleapis.com/v1internal
with each Gemini request wrapped as ``{model, project, user_prompt_id,
request}`` and expects each answer (every SSE event) as ``{"response": ...}``:
:func:`unwrap_code_assist` and :class:`CodeAssistStream` translate between
that and the plain Gemini API, so it can be routed like any Gemini call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from translators import ErrorInfo, StreamTranslator

from .endpoints import ANTHROPIC_HOST, CHATGPT_HOST, CODE_ASSIST_HOST, Call
from .errors import BadRequest

JSON = "application/json"
OFFLINE_PROJECT = "omniroute-offline"


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    status: int
    body: bytes
    content_type: str = JSON

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": self.content_type} if self.body else {}


def _json(status: int, obj: object) -> LocalAnswer:
    return LocalAnswer(status, json.dumps(obj, separators=(",", ":")).encode())


def _not_found(host: str, path: str) -> LocalAnswer:
    message = f"omniroute offline_clients: no local answer for {path} on {host}"
    if host == ANTHROPIC_HOST:  # Claude Code reads Anthropic's error shape
        return _json(
            404, {"type": "error", "error": {"type": "not_found_error", "message": message}}
        )
    if host == CODE_ASSIST_HOST:
        return _json(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})
    return _json(
        404, {"error": {"message": message, "type": "invalid_request_error", "code": "not_found"}}
    )


NO_CONTENT = LocalAnswer(204, b"")
EMPTY = _json(200, {})

_LOAD_CODE_ASSIST = _json(
    200,
    {
        "currentTier": {
            "id": "standard-tier",
            "name": "omniroute offline",
            "hasOnboardedPreviously": True,
        },
        "allowedTiers": [{"id": "standard-tier", "name": "omniroute offline", "isDefault": True}],
        "cloudaicompanionProject": OFFLINE_PROJECT,
    },
)
_ONBOARD_USER = _json(
    200,
    {
        "done": True,
        "response": {"cloudaicompanionProject": {"id": OFFLINE_PROJECT, "name": OFFLINE_PROJECT}},
    },
)

# (host, method, path without query as a full-match regex) -> answer.
# None as the answer: a 404 in the host's error shape, which is what the
# client treats as "nothing configured" (Claude Code retries `{}` up to 5
# times on settings and policy limits: it fails their format check).
_TABLE: tuple[tuple[str, str, str, LocalAnswer | None], ...] = (
    # Claude Code
    (ANTHROPIC_HOST, "GET", r"/api/claude_code/(settings|policy_limits)", None),
    (ANTHROPIC_HOST, "GET", r"/api/claude_cli/bootstrap", EMPTY),
    (
        ANTHROPIC_HOST,
        "GET",
        r"/api/claude_code/organizations/metrics_enabled",
        _json(200, {"metrics_logging_enabled": False}),
    ),
    (ANTHROPIC_HOST, "GET", r"/api/claude_code_penguin_mode", EMPTY),
    (ANTHROPIC_HOST, "POST", r"/api/eval/[^/]+", _json(200, {"features": {}})),
    (ANTHROPIC_HOST, "POST", r"/api/event_logging/.*", NO_CONTENT),
    (
        ANTHROPIC_HOST,
        "GET",
        r"/mcp-registry/v0/servers",
        _json(200, {"servers": [], "metadata": {"count": 0}}),
    ),
    # Codex CLI
    (CHATGPT_HOST, "GET", r"/backend-api/codex/models", _json(200, {"models": []})),
    (CHATGPT_HOST, "GET", r"/backend-api/plugins/.*", None),
    # Gemini CLI, logged in with Google (Code Assist)
    (CODE_ASSIST_HOST, "POST", r"/v1internal:loadCodeAssist", _LOAD_CODE_ASSIST),
    (CODE_ASSIST_HOST, "POST", r"/v1internal:onboardUser", _ONBOARD_USER),
    (
        CODE_ASSIST_HOST,
        "POST",
        r"/v1internal:listExperiments",
        _json(200, {"experimentIds": [], "flags": []}),
    ),
    (CODE_ASSIST_HOST, "POST", r"/v1internal:retrieveUserQuota", _json(200, {"buckets": []})),
    (CODE_ASSIST_HOST, "POST", r"/v1internal:fetchAdminControls", EMPTY),
    (CODE_ASSIST_HOST, "POST", r"/v1internal:recordCodeAssistMetrics", EMPTY),
    (CODE_ASSIST_HOST, "GET", r"/v1internal:getCodeAssistGlobalUserSetting", EMPTY),
    (CODE_ASSIST_HOST, "POST", r"/v1internal:setCodeAssistGlobalUserSetting", EMPTY),
)
_COMPILED = tuple((h, m, re.compile(p), a) for h, m, p, a in _TABLE)


def offline_answer(method: str, host: str, path: str) -> LocalAnswer:
    """The local answer to a request on an AI host that is no model call."""
    host = host.lower()
    route = path.partition("?")[0]
    for t_host, t_method, pattern, answer in _COMPILED:
        if host == t_host and method == t_method and pattern.fullmatch(route):
            return answer if answer is not None else _not_found(host, route)
    return _not_found(host, route)


# --------------------------------------------------------- Code Assist envelope

# Fields of Code Assist's inner request that the Gemini API rejects.
_CODE_ASSIST_ONLY = ("session_id", "model")


def unwrap_code_assist(call: Call, body: dict[str, Any]) -> tuple[Call, dict[str, Any]]:
    """``{model, project, request}`` -> the call with its model, and the plain
    Gemini request. countTokens names the model inside: ``models/<name>``."""
    inner = body.get("request")
    if not isinstance(inner, dict):
        raise BadRequest("a Code Assist request needs a 'request' object")
    model = body.get("model") if call.kind == "generate" else inner.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("a Code Assist request needs a 'model'")
    plain = {k: v for k, v in inner.items() if k not in _CODE_ASSIST_ONLY}
    return replace(call, model=model.removeprefix("models/"), envelope=None), plain


def wrap_code_assist(body: bytes) -> bytes:
    """A Gemini response (or SSE event data) as Code Assist sends it.
    Errors keep their shape: Gemini CLI reads them as Google API errors."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body
    if not isinstance(obj, dict) or "error" in obj:
        return body
    wrapped: dict[str, Any] = {"response": obj}
    if isinstance(obj.get("responseId"), str):
        wrapped["traceId"] = obj["responseId"]
    return json.dumps(wrapped, separators=(",", ":"), ensure_ascii=False).encode()


class CodeAssistStream(StreamTranslator):
    """A stream translator for a Code Assist client: each SSE event's data is
    wrapped as ``{"response": ...}``. Lines are buffered, since a same-format
    stream passes provider bytes on with arbitrary boundaries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        return self._wrap(super().feed(chunk))

    def finish(self) -> bytes:
        return self._wrap(super().finish(), final=True)

    def fail(self, error: ErrorInfo) -> bytes:
        return self._wrap(super().fail(error), final=True)

    def _wrap(self, data: bytes, final: bool = False) -> bytes:
        lines = (self._partial + data).split(b"\n")
        self._partial = b"" if final else lines.pop()
        out = []
        for line in lines:
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                end = b"\r" if line.endswith(b"\r") else b""
                line = b"data: " + wrap_code_assist(payload) + end
            out.append(line)
        if not out:
            return b""
        return b"\n".join(out) + (b"" if final else b"\n")
