"""Gemini CLI (``gemini -p``) through the proxy, its Gemini calls served by an
anthropic and by an openai-chat provider: a ``run_shell_command`` round trip,
with and without reasoning coming back from the provider (Gemini CLI always
asks for thoughts: ``thinkingConfig {includeThoughts, thinkingLevel: HIGH}``).

Both ways it authenticates: an API key (generativelanguage.googleapis.com) and
"Login with Google" (Code Assist on cloudcode-pa.googleapis.com: requests in a
``{model, project, request}`` envelope, answers as ``{"response": ...}``; its
set-up calls answered by omniroute_offline_clients).

Its routing classifier (a flash-lite model asked for JSON against a schema)
goes to a side provider, so it cannot take a reply scripted for the main model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_harness import (
    CLIENT_KEY,
    FINAL_TEXT,
    PROOF_TEXT,
    TOOL_OUTPUT,
    CliResult,
    client_requests,
    env_line,
    proxy_env,
    reasoning_params,
    run_cli,
    tool_exchanges,
    tool_names,
)
from e2e_harness import Mitmdump, provider_key
from fakeprovider import Reply, ToolCall
from omniroute_mitm.engine.route.affinity import conversation_id
from omniroute_mitm.translators.canonical import budget_to_effort, effort_to_budget

pytestmark = pytest.mark.cli

PROMPT = "Write the proof file with one shell command, then say you are done."
REASONING = "A single shell command writes the file."
SIGNATURE = "sig-gemini-cli-anthropic-0001"
CLASSIFIER_JSON = {  # the router differs: Gemini 3 models (API key), 2.5 models (Code Assist)
    "api_key": '{"complexity_reasoning": "one command", "complexity_score": 10}',
    "google": '{"reasoning": "one command", "model_choice": "pro"}',
}
CALL_IDS = {"anthropic": "toolu_01GeminiCliShell", "openai-chat": "call_gemini_cli_0001"}
SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
}


def run_gemini(cli_bin: Path, mitm: Mitmdump, tmp_path: Path, login: str) -> CliResult:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    env = proxy_env(home, mitm) | env_line(mitm, "gemini") | {
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    if login == "google":  # Code Assist on cloudcode-pa, as after "Login with Google"
        env |= {"GOOGLE_GENAI_USE_GCA": "true", "GOOGLE_CLOUD_ACCESS_TOKEN": CLIENT_KEY}
    else:
        env["GEMINI_API_KEY"] = CLIENT_KEY
    argv = [str(cli_bin / "gemini"), "-p", PROMPT, "--yolo", "--output-format", "stream-json"]
    return run_cli(argv, env, tmp_path / "work")


@pytest.mark.parametrize("reasoning", [False, True], ids=["plain", "reasoning"])
@pytest.mark.parametrize("target", ["anthropic", "openai-chat"])
@pytest.mark.parametrize("login", ["api_key", "google"])
def test_gemini_cli_shell_round_trip(
    cli_bin, proxy_to, fake, side, tmp_path, login, target, reasoning
):
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    args = {"command": f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}"}
    first = Reply(tool_calls=[ToolCall("run_shell_command", args, id=CALL_IDS[target])])
    if reasoning:
        first.reasoning = REASONING
        first.signature = SIGNATURE if target == "anthropic" else None
    fake.script([first, Reply(text=FINAL_TEXT)])
    side.default = Reply(text=CLASSIFIER_JSON[login])
    mitm = proxy_to("gemini", target, side_models="*flash-lite*")

    result = run_gemini(cli_bin, mitm, tmp_path, login)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    text = "".join(
        e["content"] for e in events if e.get("type") == "message" and e.get("role") == "assistant"
    )
    assert text == FINAL_TEXT, result.describe()
    assert [e["status"] for e in events if e.get("type") == "result"] == ["success"]
    assert proof.exists(), result.describe()
    assert proof.read_text() == PROOF_TEXT

    calls = fake.model_calls()
    assert [c.format for c in calls] == [target, target], [c.path for c in calls]
    assert all(c.api_key == provider_key(target) and not c.carries(CLIENT_KEY) for c in calls)
    assert "run_shell_command" in tool_names(target, calls[0].body)
    (exchange,) = tool_exchanges(target, calls[1].body)
    assert (exchange.name, exchange.arguments) == ("run_shell_command", args)
    assert exchange.call_id == exchange.result_id == CALL_IDS[target]
    assert TOOL_OUTPUT in exchange.result

    saved = client_requests(mitm, calls=(":streamGenerateContent", 2))
    sent = [gemini_request(r.url, r.body) for r in saved if MODEL_CALL.search(r.url)]
    main = [body for url, body in sent if ":streamGenerateContent" in url]
    assert len(main) == 2, [url for url, _ in sent]
    # both turns are one conversation for session affinity: Code Assist's
    # user_prompt_id names the session; with an API key, the first turn's hash
    turns = [r for r in saved if ":streamGenerateContent" in r.url]
    ids = {conversation_id("gemini", list(r.headers.items()), r.body) for r in turns}
    assert len(ids) == 1, [r.body.get("user_prompt_id") for r in turns]
    assert ids.pop().startswith("s:" if login == "google" else "h:")
    host = "cloudcode-pa.googleapis.com" if login == "google" else "generativelanguage."
    assert all(host in url for url, _ in sent)
    thinking = main[0]["generationConfig"]["thinkingConfig"]
    assert thinking.get("includeThoughts") is True
    assert_reasoning_params(target, thinking, calls[0].body)

    if reasoning:
        assert recorded_thoughts(tmp_path / "home") == [REASONING.replace(" ", "")]
        assert_reasoning_replayed(target, calls[1].body)
    (classifier,) = [body for url, body in sent if ":generateContent" in url]
    assert_classifier_call(target, side, classifier["generationConfig"])


MODEL_CALL = re.compile(r":(generateContent|streamGenerateContent)\b")


def gemini_request(url: str, body: dict) -> tuple[str, dict]:
    """The Gemini request a client sent, out of Code Assist's envelope if any."""
    return url, body["request"] if "cloudcode-pa" in url else body


def assert_reasoning_params(target: str, thinking: dict, body: dict) -> None:
    """Gemini's thinking level (API key) or budget (Code Assist's 2.5 models),
    in the target's own terms."""
    wanted = reasoning_params(target, body)
    if "thinkingLevel" in thinking:
        effort = thinking["thinkingLevel"].lower()
        budget = effort_to_budget(effort)
    else:
        budget = thinking["thinkingBudget"]
        effort = budget_to_effort(budget)
    if target == "openai-chat":
        assert wanted == effort
    else:
        assert wanted == {"thinking": {"type": "enabled", "budget_tokens": budget}, "effort": None}


def recorded_thoughts(home: Path) -> list[str]:
    """The thoughts Gemini CLI recorded in its session file, one string per turn.
    It keeps each streamed thought part as an entry, stripped: compare without
    spaces (providers cut reasoning deltas anywhere)."""
    (session,) = (home / ".gemini" / "tmp").glob("*/chats/session-*.jsonl")
    turns: dict[str, str] = {}
    for line in session.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "gemini" and entry.get("thoughts"):
            text = "".join(t["description"] for t in entry["thoughts"])
            turns[entry["id"]] = text.replace(" ", "")
    return list(turns.values())


def assert_reasoning_replayed(target: str, body: dict) -> None:
    """The provider gets its own reasoning back on the next turn (Gemini CLI
    echoes the thoughtSignature the proxy packed it into)."""
    (turn,) = [m for m in body["messages"] if m["role"] == "assistant"]
    if target == "openai-chat":
        assert turn["reasoning_content"] == REASONING
    else:
        assert turn["content"][0] == {
            "type": "thinking",
            "thinking": REASONING,
            "signature": SIGNATURE,
        }


JSON_SCHEMA_TYPES = {"object", "string", "integer", "number", "boolean", "array", "null"}


def schema_types(schema: object) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["type"]} if isinstance(schema.get("type"), str) else set()
        return own.union(*(schema_types(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(schema_types(v) for v in schema))
    return set()


def assert_classifier_call(target: str, side, config: dict) -> None:
    """The routing classifier's structured output (Gemini CLI writes its
    schema with OpenAPI's upper-case type names) reaches the provider as a
    schema the provider accepts."""
    assert config["responseMimeType"] == "application/json"
    required = config.get("responseJsonSchema", config.get("responseSchema"))["required"]
    calls = side.model_calls()
    assert len(calls) == 1 and calls[0].format == target
    body = calls[0].body
    if target == "openai-chat":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        schema = fmt["json_schema"]["schema"]
        assert schema["required"] == required
        assert schema_types(schema) <= JSON_SCHEMA_TYPES, schema
    else:  # as output_config.format, or as an instruction carrying the schema
        carried = json.dumps(body.get("output_config", {})) + json.dumps(body.get("system"))
        schema_text = '"required":' + json.dumps(required, separators=(",", ":"))
        assert json.dumps(schema_text)[1:-1] in carried
