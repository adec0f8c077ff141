"""openai-responses complete responses and errors: recorded bodies parse to
what they say, rendered bodies pass the SDK's own model, round trips hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from omniroute_mitm.translators.canonical import (
    ErrorInfo,
    Opaque,
    Reasoning,
    Refusal,
    Response,
    StopReason,
    Text,
    ToolCall,
    Usage,
    counting_env,
    unwrap_meta,
)
from omniroute_mitm.translators.openai_responses import FORMAT
from openai.types.responses import Response as SDKResponse
from openai_responses_helpers import sdk_client, summary

NAME = "openai-responses"


def load(fixtures_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir / "openai-responses" / name).read_bytes())
    return data


def render(response: Response) -> dict[str, Any]:
    return FORMAT.render_response(response, counting_env())


def sdk(body: dict[str, Any]) -> SDKResponse:
    return SDKResponse.model_validate(json.loads(json.dumps(body)))


# ------------------------------------------------------------------ fixtures


@pytest.mark.parametrize(
    ("name", "kinds", "stop", "usage"),
    [
        ("response-text.json", ["Text"], "stop", Usage(16, 11)),
        ("response-function-call.json", ["ToolCall"], "tool_use", Usage(58, 23)),
        (
            "response-function-calls-parallel.json",
            ["ToolCall", "ToolCall"],
            "tool_use",
            Usage(36, 54),
        ),
        (
            "response-reasoning-summary.json",
            ["Reasoning", "Text"],
            "stop",
            Usage(32, 1095, reasoning_tokens=1088),
        ),
        ("response-refusal.json", ["Refusal"], "refusal", Usage(54, 13)),
        ("response-incomplete-max-output-tokens.json", ["Text"], "length", Usage(14, 50)),
        ("response-web-search-url-citation.json", ["WebSearchCall", "Text"], "stop", None),
        ("response-cached-tokens.json", ["Text"], "stop", Usage(4020, 5, cache_read_tokens=4012)),
    ],
)
def test_recorded_response_parses(
    fixtures_dir: Path, name: str, kinds: list[str], stop: StopReason, usage: Usage | None
) -> None:
    body = load(fixtures_dir, name)
    response = FORMAT.parse_response(body)
    assert [type(p).__name__ for p in response.parts] == kinds
    assert response.stop_reason == stop
    assert response.id == body["id"] and response.model == body["model"]
    if usage is not None:
        assert response.usage == usage


def test_recorded_parallel_calls_keep_ids_and_arguments(fixtures_dir: Path) -> None:
    parts = FORMAT.parse_response(load(fixtures_dir, "response-function-calls-parallel.json")).parts
    assert [(p.id, p.arguments) for p in parts if isinstance(p, ToolCall)] == [
        ("call_bzXaB1HDWsWy7n6bMrxJzNNa", '{"password":"mellon"}'),
        ("call_Dd4wvykCr6NttXKxRK0BFH96", '{"password":"radiance"}'),
    ]


def test_recorded_reasoning_joins_summaries(fixtures_dir: Path) -> None:
    body = load(fixtures_dir, "response-reasoning-summary.json")
    reasoning = FORMAT.parse_response(body).parts[0]
    assert isinstance(reasoning, Reasoning)
    item = body["output"][0]
    assert reasoning.text == "".join(s["text"] for s in item["summary"])
    assert reasoning.meta[NAME]["id"] == item["id"]


@pytest.mark.parametrize(
    "name",
    [
        "response-text.json",
        "response-function-call.json",
        "response-function-calls-parallel.json",
        "response-reasoning-summary.json",
        "response-refusal.json",
        "response-incomplete-max-output-tokens.json",
        "response-cached-tokens.json",
    ],
)
def test_recorded_response_renders_to_what_the_sdk_reads_the_same(
    fixtures_dir: Path, name: str
) -> None:
    body = load(fixtures_dir, name)
    # Older recordings lack usage fields the current SDK model requires.
    body["usage"]["input_tokens_details"].setdefault("cache_write_tokens", 0)
    want = summary(sdk(body))
    assert summary(sdk(render(FORMAT.parse_response(body)))) == want


# -------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("stop", "status", "details"),
    [
        ("stop", "completed", None),
        ("tool_use", "completed", None),
        ("refusal", "completed", None),
        ("stop_sequence", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("error", "failed", None),
    ],
)
def test_stop_reasons_render_as_status(stop: StopReason, status: str, details: str | None) -> None:
    resp = sdk(render(Response("r", "m", [Text("x")], stop_reason=stop)))
    assert resp.status == status
    assert (resp.incomplete_details.reason if resp.incomplete_details else None) == details
    assert resp.error is None if status != "failed" else resp.error is not None


def test_render_everything_validates_and_reads_back() -> None:
    usage = Usage(100, 40, cache_read_tokens=60, cache_creation_tokens=5, reasoning_tokens=30)
    own = {NAME: {"id": "rs_1", "encrypted_content": "ENC", "summary": []}}
    response = Response(
        "resp_1",
        "gpt-5",
        [
            Reasoning("thinking", meta=own),
            Text("part one "),
            Text("part two"),
            ToolCall("call_1", "f", '{"a":1}'),
            ToolCall("call_2", "exec", "ls", kind="custom"),
        ],
        stop_reason="tool_use",
        usage=usage,
        created=1700000000,
    )
    resp = sdk(render(response))
    assert resp.output_text == "part one part two"
    assert [i.type for i in resp.output] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
    ]
    assert resp.output[0].encrypted_content == "ENC" and resp.output[0].id == "rs_1"
    assert len(resp.output[1].content) == 2  # consecutive texts share one message
    assert summary(resp)["calls"] == [("call_1", "f", {"a": 1}), ("call_2", "exec", "ls")]
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (
        100,
        40,
        140,
    )
    assert resp.usage.input_tokens_details.cached_tokens == 60
    assert resp.usage.output_tokens_details.reasoning_tokens == 30
    assert FORMAT.parse_response(render(response)).usage == usage


def test_generated_ids_have_the_api_prefixes() -> None:
    body = render(Response("", "m", [Text("a"), ToolCall("c", "f", "{}"), Reasoning("r")]))
    assert body["id"].startswith("resp_")
    assert [item["id"][:3] for item in body["output"]] == ["msg", "fc_", "rs_"]


def test_foreign_thinking_is_carried_in_encrypted_content() -> None:
    meta = {"anthropic": {"signature": "sig"}}
    item = render(Response("r", "m", [Reasoning("deep", meta=meta), Text("a")]))["output"][0]
    assert item["summary"] == [{"type": "summary_text", "text": "deep"}]
    assert unwrap_meta(item["encrypted_content"]) == meta
    # The client sends it back: it is the issuer's thinking again.
    request = FORMAT.parse_request({"model": "m", "input": [item]})
    assert request.messages[0].parts == [Reasoning("deep", meta=meta)]


def test_tool_call_with_foreign_meta_gets_a_carrier_item() -> None:
    call = ToolCall("call_9", "f", "{}", meta={"gemini": {"thoughtSignature": "c2ln"}})
    output = render(Response("r", "m", [call], stop_reason="tool_use"))["output"]
    assert [i["type"] for i in output] == ["function_call", "reasoning"]
    replay = [{k: v for k, v in item.items() if k != "id"} for item in output]  # as Codex does
    request = FORMAT.parse_request({"model": "m", "input": replay})
    assert request.messages[0].parts == [call]


def test_opaque_items_only_render_in_their_own_format() -> None:
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed"}
    parts = [Opaque(NAME, search), Opaque("anthropic", {"type": "server_tool_use"}), Text("a")]
    output = render(Response("r", "m", parts))["output"]
    assert [i["type"] for i in output] == ["web_search_call", "message"]


ROUND_TRIPS = [
    Response("resp_1", "m", [Text("hi")], usage=Usage(1, 2), created=5),
    Response(
        "resp_2",
        "gpt-5",
        [
            Reasoning(
                "s1s2",
                meta={
                    NAME: {
                        "id": "rs_1",
                        "encrypted_content": "E",
                        "summary": [
                            {"type": "summary_text", "text": "s1"},
                            {"type": "summary_text", "text": "s2"},
                        ],
                    }
                },
            ),
            ToolCall("call_1", "f", '{"x":1}', meta={NAME: {"id": "fc_1"}}),
            ToolCall(
                "call_2", "sh", "ls", kind="custom", meta={NAME: {"id": "ctc_1", "namespace": "n"}}
            ),
        ],
        stop_reason="tool_use",
        usage=Usage(10, 20, cache_read_tokens=3, cache_creation_tokens=1, reasoning_tokens=7),
        created=6,
    ),
    Response("resp_3", "m", [Refusal("no")], stop_reason="refusal", usage=Usage(), created=7),
    Response("resp_4", "m", [Text("cut")], stop_reason="length", usage=Usage(1, 1), created=8),
]


@pytest.mark.parametrize("response", ROUND_TRIPS, ids=["text", "calls", "refusal", "length"])
def test_parse_of_render_is_identity(response: Response) -> None:
    assert FORMAT.parse_response(json.loads(json.dumps(render(response)))) == response


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "kind", "code"),
    [
        ("error-400-invalid-parameter.json", 400, "invalid_request", "decimal_below_min_value"),
        ("error-400-model-not-found.json", 404, "not_found", "model_not_found"),
        ("error-401-invalid-api-key.json", 401, "authentication", "invalid_api_key"),
        ("error-insufficient-quota.json", 429, "rate_limit", "insufficient_quota"),
    ],
)
def test_recorded_errors_parse(
    fixtures_dir: Path, name: str, status: int, kind: str, code: str
) -> None:
    raw = (fixtures_dir / "openai-responses" / name).read_bytes()
    given = 429 if "quota" in name else int(name.split("-")[1])
    info = FORMAT.parse_error(given, raw)
    assert (info.status, info.kind, info.code) == (status, kind, code)
    assert info.message == json.loads(raw)["error"]["message"]
    # Rendered back: the same status the API used and the same body.
    back_status, back = FORMAT.render_error(info)
    assert back_status == given
    assert back["error"]["code"] == code and back["error"]["message"] == info.message


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"<html>Bad Gateway</html>", 502, "server"),
        (b"", 503, "overloaded"),
        (b"{not json", 500, "server"),
        (b'{"error": "flat string"}', 429, "rate_limit"),
        (b"\xff\xfe", 401, "authentication"),
    ],
)
def test_any_bytes_parse_as_an_error(body: bytes, status: int, kind: str) -> None:
    info = FORMAT.parse_error(status, body)
    assert (info.status, info.kind) == (status, kind)
    assert info.message


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        (b'{"error": "model overloaded"}', 503, "overloaded", "model overloaded"),
        (b'{"detail": "Not Found"}', 404, "not_found", "Not Found"),
        (b'{"message": "bad key"}', 401, "authentication", "bad key"),
        # A precise type wins over a generic status (Gemini's bad key is a 400).
        (
            b'{"error": {"type": "authentication_error", "message": "k"}}',
            400,
            "authentication",
            "k",
        ),
    ],
)
def test_loose_and_typed_error_bodies(body: bytes, status: int, kind: str, message: str) -> None:
    info = FORMAT.parse_error(status, body)
    assert (info.status, info.kind, info.message) == (status, kind, message)


@pytest.mark.parametrize(
    ("error", "status", "etype", "code"),
    [
        (
            ErrorInfo(400, "invalid_request", "bad", param="messages"),
            400,
            "invalid_request_error",
            None,
        ),
        (
            ErrorInfo(404, "not_found", "no model", code="model_not_found"),
            400,
            "invalid_request_error",
            "model_not_found",
        ),
        (ErrorInfo(401, "authentication", "key"), 401, "authentication_error", "invalid_api_key"),
        (ErrorInfo(429, "rate_limit", "slow down"), 429, "rate_limit_error", "rate_limit_exceeded"),
        (ErrorInfo(529, "overloaded", "Overloaded"), 503, "server_error", "server_is_overloaded"),
        (ErrorInfo(500, "server", "oops"), 500, "server_error", "server_error"),
    ],
)
def test_render_error_shape_and_sdk_reads_it(
    error: ErrorInfo, status: int, etype: str, code: str | None
) -> None:
    got_status, body = FORMAT.render_error(error)
    assert got_status == status
    assert body == {
        "error": {"message": error.message, "type": etype, "param": error.param, "code": code}
    }
    client = sdk_client(json.dumps(body).encode(), "application/json", status)
    with pytest.raises(openai.APIStatusError) as exc:
        client.responses.create(model="m", input="x")
    assert exc.value.status_code == status
    assert error.message in str(exc.value)
    assert FORMAT.parse_error(status, json.dumps(body).encode()).message == error.message


def test_refusal_stop_without_refusal_part_renders_one() -> None:
    resp = sdk(render(Response("r", "m", [], stop_reason="refusal")))
    assert [p.type for p in resp.output[0].content] == ["refusal"]
    assert (
        FORMAT.parse_response(render(Response("r", "m", [], stop_reason="refusal"))).stop_reason
        == "refusal"
    )
