"""Web search across the four formats: each client's search tool becomes
each target's, and each provider's recorded search answer (shared/fixtures)
becomes each client's own search blocks and citations, judged by the
official SDKs' types, streamed and not."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai.types.chat
import openai.types.responses
import pytest
from google.genai import types as gtypes
from omniroute_mitm.translators import StreamTranslator, get_format, web
from omniroute_mitm.translators.canonical import (
    Citation,
    Response,
    Text,
    WebSearch,
    WebSearchCall,
    WebSearchResult,
    WebSearchResults,
    counting_env,
)
from shared_fixtures import FIXTURES

SEARCHING = ("anthropic", "openai-responses", "gemini")

ANTHROPIC_TOOL = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 4,
    "allowed_domains": ["example.com"],
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR",
                      "timezone": "Europe/Paris"},
}  # fmt: skip
RESPONSES_TOOL = {
    "type": "web_search",
    "filters": {"allowed_domains": ["example.com"]},
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
    "search_context_size": "high",
}


def _request(fmt: str, tool: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    if fmt == "gemini":
        return {"contents": [{"role": "user", "parts": [{"text": "q"}]}],
                "tools": [tool or {"googleSearch": {}}], **extra}  # fmt: skip
    if fmt == "openai-responses":
        return {"model": "m", "input": "q", "tools": [tool or RESPONSES_TOOL], **extra}
    if fmt == "openai-chat":
        return {"model": "m", "messages": [{"role": "user", "content": "q"}], **extra}
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}],
            "tools": [tool or ANTHROPIC_TOOL], **extra}  # fmt: skip


def _translate(source: str, target: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    request = get_format(source).parse_request(body, model="m")
    return get_format(target).render_request(request, counting_env()), request.warnings


# ------------------------------------------------------------------- tools


def test_anthropic_search_tool_keeps_its_options_in_responses() -> None:
    body, warnings = _translate("anthropic", "openai-responses", _request("anthropic", None))
    assert body["tools"] == [
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["example.com"]},
            "user_location": {"type": "approximate", "city": "Paris", "country": "FR",
                              "timezone": "Europe/Paris"},
        }
    ]  # fmt: skip
    assert any("max_uses" in w for w in warnings), "what is lost is said"
    assert "web_search_call.action.sources" in body["include"]


def test_anthropic_search_tool_is_google_search_in_gemini() -> None:
    body, _ = _translate("anthropic", "gemini", _request("anthropic", None))
    assert body["tools"] == [{"googleSearch": {}}]


def test_responses_search_tool_is_anthropics_with_domains_and_location() -> None:
    body, _ = _translate("openai-responses", "anthropic", _request("openai-responses", None))
    assert body["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "allowed_domains": ["example.com"],
            "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
        }
    ]


def test_responses_search_tool_is_google_search_in_gemini() -> None:
    body, _ = _translate("openai-responses", "gemini", _request("openai-responses", None))
    assert body["tools"] == [{"googleSearch": {}}]  # Gemini's tool takes no options


def test_gemini_google_search_becomes_each_search_tool() -> None:
    body, _ = _translate("gemini", "anthropic", _request("gemini", None))
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    body, _ = _translate("gemini", "openai-responses", _request("gemini", {"google_search": {}}))
    assert body["tools"] == [{"type": "web_search"}]


def test_chat_search_options_become_a_search_tool_and_pass_through_to_chat() -> None:
    options = {"search_context_size": "low",
               "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}}}
    body = _request("openai-chat", None, web_search_options=options)
    anthropic_body, _ = _translate("openai-chat", "anthropic", body)
    assert anthropic_body["tools"] == [
        {"type": "web_search_20250305", "name": "web_search",
         "user_location": {"type": "approximate", "city": "Oslo"}}
    ]  # fmt: skip
    chat_body, _ = _translate("openai-chat", "openai-chat", body)
    assert chat_body["web_search_options"] == options and "tools" not in chat_body


def test_newer_dated_versions_and_web_fetch_are_recognised() -> None:
    tools = [{"type": "web_search_20260209", "name": "web_search", "blocked_domains": ["x.com"]},
             {"type": "web_fetch_20250910", "name": "web_fetch", "max_content_tokens": 5000}]
    request = get_format("anthropic").parse_request(_request("anthropic", None, tools=tools))
    search, fetch = (t.server for t in request.tools)
    assert isinstance(search, WebSearch) and search.blocked_domains == ["x.com"]
    assert fetch is not None and fetch.max_content_tokens == 5000
    body, _ = _translate("anthropic", "gemini", _request("anthropic", None, tools=tools))
    assert body["tools"] == [{"googleSearch": {}}, {"urlContext": {}}]
    body, warnings = _translate("anthropic", "openai-responses",
                                _request("anthropic", None, tools=tools))
    assert body["tools"] == [{"type": "web_search"}]  # no fetch tool in Responses, nor blocking
    assert any("blocked_domains" in w for w in warnings)
    assert any("web_fetch" in w for w in warnings)


def test_forcing_the_search_tool_is_left_to_gemini() -> None:
    """Gemini's functionCallingConfig names functions only: forcing its
    search would be an invalid request."""
    body = _request("anthropic", None, tool_choice={"type": "tool", "name": "web_search"})
    gemini, warnings = _translate("anthropic", "gemini", body)
    assert "toolConfig" not in gemini and gemini["tools"] == [{"googleSearch": {}}]
    assert any("tool_choice" in w for w in warnings)
    responses, _ = _translate("anthropic", "openai-responses", body)
    assert responses["tool_choice"] == {"type": "web_search"}


def test_web_fetch_for_anthropic_names_its_beta() -> None:
    body, _ = _translate("gemini", "anthropic", _request("gemini", {"urlContext": {}}))
    assert body["tools"] == [{"type": "web_fetch_20250910", "name": "web_fetch"}]
    assert web.anthropic_betas(body) == ["web-fetch-2025-09-10"]


def test_a_plain_chat_target_gets_no_foreign_search_tool() -> None:
    """Only with ``web_search: {unsupported: drop}`` does such a request
    reach a chat target: the tool is dropped there, and said."""
    body, warnings = _translate("anthropic", "openai-chat", _request("anthropic", None))
    assert "tools" not in body and "web_search_options" not in body
    assert any("web_search" in w for w in warnings)


@pytest.mark.parametrize(
    ("fmt", "body", "tools"),
    [
        ("anthropic", _request("anthropic", None), {"web_search"}),
        ("anthropic", _request("anthropic", {"type": "web_fetch_20260318", "name": "web_fetch"}),
         {"web_fetch"}),
        ("openai-responses", _request("openai-responses", {"type": "web_search_preview"}),
         {"web_search"}),
        ("gemini", _request("gemini", {"urlContext": {}}), {"web_fetch"}),
        ("openai-chat", _request("openai-chat", None, web_search_options={}), {"web_search"}),
        ("anthropic", _request("anthropic", {"type": "bash_20250124", "name": "bash"}), set()),
    ],
)  # fmt: skip
def test_requested_web_tools(fmt: str, body: dict[str, Any], tools: set[str]) -> None:
    assert web.requested(fmt, body) == tools  # type: ignore[arg-type]


def test_which_targets_run_which_tool() -> None:
    assert web.honours("gemini", "anthropic", "web_fetch")
    assert not web.honours("openai-responses", "anthropic", "web_fetch")
    assert not web.honours("openai-chat", "anthropic", "web_search")
    assert web.honours("openai-chat", "openai-chat", "web_search")  # passes as sent


# --------------------------------------------------------------- responses

RECORDED = {
    "anthropic": "anthropic/message-web-search-citations.json",
    "openai-responses": "openai-responses/response-web-search-url-citation.json",
    "gemini": "gemini/generate-grounding-google-search.json",
}
STREAMED = {
    "anthropic": "anthropic/stream-web-search-citations.sse",
    "openai-responses": "openai-responses/stream-web-search-url-citation.sse",
    "gemini": "gemini/stream-grounding-google-search.sse",
}


def _fixture(path: str) -> bytes:
    file = FIXTURES / path
    if not file.exists():
        pytest.skip("../shared/fixtures not present")
    return file.read_bytes()


def _check_anthropic(body: dict[str, Any]) -> None:
    message = anthropic.types.Message.model_validate(body)
    calls = [b for b in message.content if b.type == "server_tool_use"]
    results = [b for b in message.content if b.type == "web_search_tool_result"]
    assert calls and [r.tool_use_id for r in results] == [c.id for c in calls]
    assert all(c.input.get("query") for c in calls)  # type: ignore[union-attr]
    cited = [c for b in message.content if b.type == "text" for c in (b.citations or [])]
    assert cited and all(c.type == "web_search_result_location" for c in cited)
    assert all(c.cited_text for c in cited)  # type: ignore[union-attr]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == len(calls)


def _check_responses(body: dict[str, Any]) -> None:
    response = openai.types.responses.Response.model_validate(body)
    searches = [i for i in response.output if i.type == "web_search_call"]
    assert searches and all(s.action.query for s in searches)  # type: ignore[union-attr]
    text = response.output_text
    notes = [a for i in response.output if i.type == "message" for p in i.content
             if p.type == "output_text" for a in p.annotations]  # fmt: skip
    assert notes and all(a.type == "url_citation" for a in notes)
    parts = [p for i in response.output if i.type == "message" for p in i.content]
    for part in parts:
        for note in part.annotations:  # type: ignore[union-attr]
            assert 0 <= note.start_index <= note.end_index <= len(part.text)  # type: ignore[union-attr]
    assert text


def _check_gemini(body: dict[str, Any]) -> None:
    response = gtypes.GenerateContentResponse.model_validate(body)
    grounding = response.candidates[0].grounding_metadata  # type: ignore[index]
    assert grounding is not None and grounding.web_search_queries
    assert grounding.grounding_chunks and grounding.grounding_chunks[0].web.uri  # type: ignore[union-attr]
    size = len((response.text or "").encode())
    assert grounding.grounding_supports
    for support in grounding.grounding_supports:
        assert 0 <= (support.segment.start_index or 0) < support.segment.end_index <= size  # type: ignore[union-attr,operator]


CHECKS = {"anthropic": _check_anthropic, "openai-responses": _check_responses,
          "gemini": _check_gemini}  # fmt: skip


@pytest.mark.parametrize("client", SEARCHING)
@pytest.mark.parametrize("source", SEARCHING)
def test_recorded_search_answer_in_every_clients_blocks(source: str, client: str) -> None:
    body = json.loads(_fixture(RECORDED[source]))
    response = get_format(source).parse_response(body)
    assert any(isinstance(p, WebSearchCall) for p in response.parts)
    assert any(isinstance(p, Text) and p.citations for p in response.parts)
    assert response.usage is not None and response.usage.web_search_requests > 0
    CHECKS[client](get_format(client).render_response(response, counting_env()))


def test_recorded_responses_citation_spans_survive_into_gemini_bytes() -> None:
    body = json.loads(_fixture(RECORDED["openai-responses"]))
    response = get_format("openai-responses").parse_response(body)
    text = next(p for p in response.parts if isinstance(p, Text))
    first = text.citations[0]
    again = get_format("gemini").render_response(response, counting_env())
    segment = again["candidates"][0]["groundingMetadata"]["groundingSupports"][0]["segment"]
    assert segment["text"] == text.text[first.start : first.end]
    assert segment["endIndex"] - segment["startIndex"] == len(segment["text"].encode())


def test_gemini_byte_segments_become_character_spans() -> None:
    text = "É café: 21 °C à Paris."
    start = len("É café: ".encode())
    end = start + len("21 °C".encode())
    body = {
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP",
            "groundingMetadata": {
                "webSearchQueries": ["paris"],
                "groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}],
                "groundingSupports": [{"segment": {"startIndex": start, "endIndex": end},
                                       "groundingChunkIndices": [0]}],
            },
        }],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4},
    }  # fmt: skip
    response = get_format("gemini").parse_response(body)
    cited = next(p for p in response.parts if isinstance(p, Text)).citations[0]
    assert text[cited.start : cited.end] == "21 °C"  # type: ignore[misc]
    again = get_format("gemini").render_response(response, counting_env())
    support = again["candidates"][0]["groundingMetadata"]["groundingSupports"][0]
    assert (support["segment"]["startIndex"], support["segment"]["endIndex"]) == (start, end)


def test_another_providers_results_go_to_anthropic_history_as_words() -> None:
    """Anthropic rejects results it cannot decrypt: a search another
    provider ran is sent back to Anthropic as a note the model can read."""
    found = WebSearchResults("ws_1", [WebSearchResult("https://a.example", "A", "snippet A")])
    shown = get_format("anthropic").render_response(
        Response("r", "m", [WebSearchCall("ws_1", query="q"), found, Text("x")]), counting_env()
    )
    assert shown["content"][1]["content"][0]["encrypted_content"]
    history = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": shown["content"]},
        {"role": "user", "content": "more"},
    ]}  # fmt: skip
    request = get_format("anthropic").parse_request(history)
    results = request.messages[1].parts[1]
    assert isinstance(results, WebSearchResults) and results.results[0].snippet == "snippet A"
    again = get_format("anthropic").render_request(request, counting_env())
    blocks = again["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["text", "text", "text"]
    assert "snippet A" in blocks[1]["text"] and "https://a.example" in blocks[1]["text"]


def test_anthropic_cites_a_located_span_as_its_own_block() -> None:
    text = Text("Sunny in Paris. Rain in Oslo.", citations=[
        Citation("https://a.example", "A", start=0, end=15)])  # fmt: skip
    body = get_format("anthropic").render_response(Response("r", "m", [text]), counting_env())
    blocks = body["content"]
    assert [b["text"] for b in blocks] == ["Sunny in Paris.", " Rain in Oslo."]
    assert blocks[0]["citations"][0]["cited_text"] == "Sunny in Paris."
    assert "citations" not in blocks[1]


# ----------------------------------------------------------------- streams


def _stream(source: str, client: str) -> bytes:
    translator = StreamTranslator(get_format(source), get_format(client), counting_env(),
                                  model="test-model")  # fmt: skip
    return translator.feed(_fixture(STREAMED[source])) + translator.finish()


def _events(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.decode().splitlines():
        if line.startswith("data: ") and line[6:].strip() not in ("", "[DONE]"):
            out.append(json.loads(line[6:]))
    return out


@pytest.mark.parametrize("source", ["openai-responses", "gemini"])
def test_streamed_search_reaches_an_anthropic_client(source: str) -> None:
    events = _events(_stream(source, "anthropic"))
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert "server_tool_use" in starts and "web_search_tool_result" in starts
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert "citations_delta" in deltas
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["usage"]["server_tool_use"]["web_search_requests"] >= 1


@pytest.mark.parametrize("source", ["anthropic", "gemini"])
def test_streamed_search_reaches_a_responses_client(source: str) -> None:
    events = _events(_stream(source, "openai-responses"))
    kinds = [e["type"] for e in events]
    for step in ("in_progress", "searching", "completed"):
        assert f"response.web_search_call.{step}" in kinds
    assert kinds.index("response.web_search_call.in_progress") < kinds.index(
        "response.web_search_call.completed")
    added = "response.output_text.annotation.added"
    notes = [e["annotation"] for e in events if e["type"] == added]
    assert notes and notes[0]["type"] == "url_citation"
    final = events[-1]["response"]
    openai.types.responses.Response.model_validate(final)
    searches = [i for i in final["output"] if i["type"] == "web_search_call"]
    assert searches and all(s["action"]["query"] for s in searches)
    assert searches[0]["action"]["sources"][0]["url"].startswith("https://")  # the results


@pytest.mark.parametrize("source", ["anthropic", "openai-responses"])
def test_streamed_search_reaches_a_gemini_client(source: str) -> None:
    chunks = [gtypes.GenerateContentResponse.model_validate(e)
              for e in _events(_stream(source, "gemini"))]  # fmt: skip
    grounded = [c for c in chunks if c.candidates and c.candidates[0].grounding_metadata]
    assert grounded, "groundingMetadata on the last chunk"
    grounding = grounded[-1].candidates[0].grounding_metadata  # type: ignore[index]
    assert grounding.web_search_queries and grounding.grounding_supports  # type: ignore[union-attr]
    text = "".join(c.text or "" for c in chunks)
    for support in grounding.grounding_supports:  # type: ignore[union-attr]
        assert support.segment.end_index <= len(text.encode())  # type: ignore[union-attr,operator]


def test_a_chat_client_sees_the_citations_of_a_search() -> None:
    body = json.loads(_fixture(RECORDED["anthropic"]))
    response = get_format("anthropic").parse_response(body)
    chat = get_format("openai-chat").render_response(response, counting_env())
    done = openai.types.chat.ChatCompletion.model_validate(chat)
    notes = done.choices[0].message.annotations or []
    content = done.choices[0].message.content or ""
    assert notes and all(0 <= n.url_citation.start_index < n.url_citation.end_index
                         <= len(content) for n in notes)  # fmt: skip


@pytest.mark.parametrize("source", SEARCHING)
def test_streamed_search_citations_reach_a_chat_client(source: str) -> None:
    """As OpenAI's search models stream them: an annotations-only delta
    before the finish, spans over the whole content."""
    chunks = [openai.types.chat.ChatCompletionChunk.model_validate(e)
              for e in _events(_stream(source, "openai-chat"))]  # fmt: skip
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    notes = [a for c in chunks if c.choices
             for a in (c.choices[0].delta.model_extra or {}).get("annotations", [])]  # fmt: skip
    assert notes and all(n["type"] == "url_citation" for n in notes)
    for note in notes:
        span = note["url_citation"]
        assert 0 <= span["start_index"] < span["end_index"] <= len(content)


@pytest.mark.parametrize(
    ("fmt", "body", "expected"),
    [
        # Codex: its own tools and web_search beside them, every turn
        ("openai-responses", {"tools": [{"type": "function", "name": "shell"},
                                         {"type": "web_search"}]}, True),
        ("openai-responses", {"tools": [{"type": "function", "name": "shell"},
                                         {"type": "web_search"}],
                              "tool_choice": {"type": "web_search"}}, False),
        # Claude Code's WebSearch: a request with the search tool alone
        ("anthropic", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, False),
        ("anthropic", {"tools": [{"name": "Bash", "input_schema": {}},
                                 {"type": "web_search_20250305", "name": "web_search"}]}, True),
        ("anthropic", {"tools": [{"name": "Bash", "input_schema": {}},
                                 {"type": "web_search_20250305", "name": "web_search"}],
                       "tool_choice": {"type": "tool", "name": "web_search"}}, False),
        # Gemini CLI's google_web_search: googleSearch alone
        ("gemini", {"tools": [{"googleSearch": {}}]}, False),
        ("gemini", {"tools": [{"functionDeclarations": [{"name": "ls"}]},
                              {"googleSearch": {}}]}, True),
        # a chat client's web_search_options asks a search model to search
        ("openai-chat", {"web_search_options": {}, "tools": [{"type": "function"}]}, False),
    ],
)
def test_a_search_is_only_offered_beside_the_clients_own_tools_unforced(fmt, body, expected):
    from omniroute_mitm.translators.web import offered

    assert offered(fmt, body) is expected


# ------------------------------------------------------------------- usage
# Gemini's recordings count the search results grounding read apart
# (toolUsePromptTokenCount, outside promptTokenCount, inside totalTokenCount);
# Google bills them as input, as Anthropic and OpenAI count their own.


def _recorded_usage(path: str) -> dict[str, int]:
    """The last usageMetadata of a recording."""
    found = [json.loads(line[6:])["usageMetadata"] for line in _fixture(path).decode().splitlines()
             if line.startswith("data: ")] if path.endswith(".sse") else []  # fmt: skip
    return found[-1] if found else json.loads(_fixture(path))["usageMetadata"]


def _billed(path: str) -> tuple[int, int, dict[str, int]]:
    meta = _recorded_usage(path)
    assert meta["toolUsePromptTokenCount"] > 0
    return meta["promptTokenCount"] + meta["toolUsePromptTokenCount"], meta["totalTokenCount"], meta


def _input_and_total(client: str, body: dict[str, Any]) -> tuple[int, int]:
    if client == "anthropic":
        u = anthropic.types.Message.model_validate(body).usage
        return u.input_tokens, u.input_tokens + u.output_tokens
    if client == "openai-responses":
        r = openai.types.responses.Response.model_validate(body).usage
        assert r is not None
        return r.input_tokens, r.total_tokens
    c = openai.types.chat.ChatCompletion.model_validate(body).usage
    assert c is not None
    return c.prompt_tokens, c.total_tokens


@pytest.mark.parametrize("client", ["anthropic", "openai-responses", "openai-chat"])
def test_geminis_search_result_tokens_are_input_for_every_client(client: str) -> None:
    billed, total, _ = _billed(RECORDED["gemini"])
    response = get_format("gemini").parse_response(json.loads(_fixture(RECORDED["gemini"])))
    assert response.usage is not None and response.usage.input_tokens == billed
    shown = get_format(client).render_response(response, counting_env())
    assert _input_and_total(client, shown) == (billed, total)


def test_geminis_search_result_tokens_stay_apart_for_a_gemini_client() -> None:
    _, _, meta = _billed(RECORDED["gemini"])
    response = get_format("gemini").parse_response(json.loads(_fixture(RECORDED["gemini"])))
    again = get_format("gemini").render_response(response, counting_env())["usageMetadata"]
    for key in ("promptTokenCount", "toolUsePromptTokenCount", "totalTokenCount"):
        assert again[key] == meta[key], key


@pytest.mark.parametrize("client", ["anthropic", "openai-responses", "openai-chat", "gemini"])
def test_geminis_streamed_search_result_tokens_are_input(client: str) -> None:
    billed, total, meta = _billed(STREAMED["gemini"])
    events = _events(_stream("gemini", client))
    if client == "anthropic":
        start = events[0]["message"]["usage"]["input_tokens"]
        final = next(e for e in events if e["type"] == "message_delta")["usage"]
        assert start == final["input_tokens"] == billed
        assert final["input_tokens"] + final["output_tokens"] == total
    elif client == "openai-responses":
        usage = events[-1]["response"]["usage"]
        assert (usage["input_tokens"], usage["total_tokens"]) == (billed, total)
    elif client == "openai-chat":
        usage = next(e["usage"] for e in events if e.get("usage"))
        assert (usage["prompt_tokens"], usage["total_tokens"]) == (billed, total)
    else:
        usage = events[-1]["usageMetadata"]
        for key in ("promptTokenCount", "toolUsePromptTokenCount", "totalTokenCount"):
            assert usage[key] == meta[key], key


# ------------------------------------------------- a chat search model's answer
# OpenAI's search models (gpt-*-search-preview) answer with url_citation
# annotations indexing the whole message content; streamed, in a delta of
# their own after the text.

CHAT_TEXT = "Paris is sunny. Oslo is rainy."
ADDED = "response.output_text.annotation.added"
CHAT_NOTES = [
    {"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 15,
     "url": "https://a.example/paris", "title": "Paris weather"}},
    {"type": "url_citation", "url_citation": {"start_index": 16, "end_index": 30,
     "url": "https://b.example/oslo", "title": "Oslo weather"}},
]  # fmt: skip
CHAT_SPANS = [("https://a.example/paris", "Paris is sunny."),
              ("https://b.example/oslo", "Oslo is rainy.")]  # fmt: skip


def _chat_search_stream() -> bytes:
    head = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-search-preview"}  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return "data: " + json.dumps({**head, "choices": [choice]}) + "\n\n"

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": CHAT_TEXT[i : i + 7]}) for i in range(0, len(CHAT_TEXT), 7)]
    frames += [chunk({"annotations": CHAT_NOTES}), chunk({}, "stop")]
    usage = {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}
    frames.append("data: " + json.dumps({**head, "choices": [], "usage": usage}) + "\n\n")
    return "".join(frames).encode() + b"data: [DONE]\n\n"


def _chat_search_body() -> dict[str, Any]:
    message = {"role": "assistant", "content": CHAT_TEXT, "refusal": None,
               "annotations": CHAT_NOTES}  # fmt: skip
    return {"id": "chatcmpl-s", "object": "chat.completion", "created": 1,
            "model": "gpt-4o-search-preview",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}}  # fmt: skip


def _chat_to(client: str) -> bytes:
    translator = StreamTranslator(get_format("openai-chat"), get_format(client), counting_env(),
                                  model="test-model")  # fmt: skip
    data = _chat_search_stream()
    return b"".join(translator.feed(data[i : i + 50]) for i in range(0, len(data), 50)) + (
        translator.finish()
    )


def _gemini_spans(text: str, grounding: Any) -> list[tuple[str, str]]:
    raw = text.encode()
    chunks = grounding.grounding_chunks
    return [
        (chunks[s.grounding_chunk_indices[0]].web.uri,
         raw[s.segment.start_index or 0 : s.segment.end_index].decode())
        for s in grounding.grounding_supports
    ]  # fmt: skip


def test_a_chat_search_answer_reaches_each_client_with_its_citations() -> None:
    response = get_format("openai-chat").parse_response(_chat_search_body())
    shown = get_format("anthropic").render_response(response, counting_env())
    blocks = anthropic.types.Message.model_validate(shown).content
    cited = [(b.citations[0].url, b.text) for b in blocks if b.type == "text" and b.citations]
    assert cited == CHAT_SPANS
    assert "".join(b.text for b in blocks if b.type == "text") == CHAT_TEXT

    shown = get_format("openai-responses").render_response(response, counting_env())
    done = openai.types.responses.Response.model_validate(shown)
    notes = [a for i in done.output if i.type == "message" for p in i.content
             for a in p.annotations]  # type: ignore[union-attr]  # fmt: skip
    text = done.output_text
    assert [(n.url, text[n.start_index : n.end_index]) for n in notes] == CHAT_SPANS  # type: ignore[union-attr]

    shown = get_format("gemini").render_response(response, counting_env())
    reply = gtypes.GenerateContentResponse.model_validate(shown)
    grounding = reply.candidates[0].grounding_metadata  # type: ignore[index]
    assert _gemini_spans(reply.text or "", grounding) == CHAT_SPANS


def test_a_streamed_chat_search_answer_reaches_an_anthropic_client_with_citations() -> None:
    events = _events(_chat_to("anthropic"))
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    cites = [d["citation"] for d in deltas if d["type"] == "citations_delta"]
    assert [(c["url"], c["cited_text"]) for c in cites] == CHAT_SPANS
    for cite in cites:
        anthropic.types.CitationsWebSearchResultLocation.model_validate(cite)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == CHAT_TEXT


def test_a_streamed_chat_search_answer_reaches_a_responses_client_with_annotations() -> None:
    events = _events(_chat_to("openai-responses"))
    added = [e["annotation"] for e in events if e["type"] == ADDED]
    final = openai.types.responses.Response.model_validate(events[-1]["response"])
    text = final.output_text
    assert [(n["url"], text[n["start_index"] : n["end_index"]]) for n in added] == CHAT_SPANS
    notes = [a for i in final.output if i.type == "message" for p in i.content
             for a in p.annotations]  # type: ignore[union-attr]  # fmt: skip
    assert [(n.url, text[n.start_index : n.end_index]) for n in notes] == CHAT_SPANS  # type: ignore[union-attr]


def test_a_streamed_chat_search_answer_reaches_a_gemini_client_with_grounding() -> None:
    chunks = [gtypes.GenerateContentResponse.model_validate(e)
              for e in _events(_chat_to("gemini"))]  # fmt: skip
    text = "".join(c.text or "" for c in chunks)
    assert text == CHAT_TEXT
    grounded = [c for c in chunks if c.candidates and c.candidates[0].grounding_metadata
                and c.candidates[0].grounding_metadata.grounding_supports]  # fmt: skip
    assert grounded
    assert _gemini_spans(text, grounded[-1].candidates[0].grounding_metadata) == CHAT_SPANS  # type: ignore[index]


def test_chat_annotations_before_any_text_wait_for_it() -> None:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    frames = [{"annotations": CHAT_NOTES[:1]}, {"content": CHAT_TEXT}]
    data = "".join("data: " + json.dumps({**head, "choices": [
        {"index": 0, "delta": d, "finish_reason": None}]}) + "\n\n" for d in frames)  # fmt: skip
    data += "data: " + json.dumps({**head, "choices": [
        {"index": 0, "delta": {}, "finish_reason": "stop"}]}) + "\n\ndata: [DONE]\n\n"  # fmt: skip
    translator = StreamTranslator(get_format("openai-chat"), get_format("openai-responses"),
                                  counting_env(), model="m")  # fmt: skip
    events = _events(translator.feed(data.encode()) + translator.finish())
    added = [e["annotation"] for e in events if e["type"] == ADDED]
    assert [(n["url"], n["start_index"], n["end_index"]) for n in added] == [
        ("https://a.example/paris", 0, 15)]  # fmt: skip
