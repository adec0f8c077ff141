"""Client side calls answered by the front itself (``omniroute_offline_clients``).

With the option on, the front answers these side calls itself, so a client
with no account (or no network) at its vendor still works: Claude Code's
settings, policy limits, feature flags and event logging on
api.anthropic.com; Codex's model list and plugin catalogue on chatgpt.com
(not its ChatGPT-login account discovery, whose answer is unknown: that mode
needs the network); Gemini CLI's Code Assist set-up calls (loadCodeAssist,
onboardUser, experiments, quota, metrics) on cloudcode-pa.googleapis.com.
Every other request to an AI host that is not a model call gets a 404 in
JSON: offline, the vendor is never contacted.

Each answer is the smallest one its client accepts without retrying
(observed with Claude Code 2.1.197, Codex CLI 0.169.0, Gemini CLI 0.61.0).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from omniroute_mitm.engine.core.calls import ANTHROPIC_HOST, CHATGPT_HOST, CODE_ASSIST_HOST

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
