"""Web search through mitmdump: a client's own search tool reaches a target
of another format as that target's search tool, and the answer comes back
as the client's native search blocks and citations, parsed by the official
SDKs (the fake providers run their vendors' search: fakeprovider.websearch).
A request no target can serve is refused in the client's format."""

from __future__ import annotations

import anthropic
import openai
import pytest
from e2e_harness import e2e_config
from fakeprovider import Reply, Usage
from fakeprovider.websearch import RESULTS
from google.genai import types as gtypes

pytestmark = pytest.mark.e2e

SEARCHING = ("anthropic", "openai-responses", "gemini")  # formats with a search tool
CHAT_TARGETS = (*SEARCHING, "openai-chat")  # a chat client's own search model: as sent
PROMPT = "What is the weather in Paris today?"
ANSWER = Reply(text="Paris is sunny today, 21 degrees.", usage=Usage(input=120, output=45))
URL, TITLE, _ = RESULTS[0]


def MITM_CONFIG(request):  # noqa: N802 (the harness's hook)
    port = request.getfixturevalue("e2e_provider").port
    combos = {
        "chat-then-gemini": {
            "strategy": "priority",
            "targets": ["fake-openai-chat/upstream-openai-chat", "fake-gemini/upstream-gemini"],
        }
    }
    return e2e_config(port, extra_combos=combos,
                      extra_routes=[{"match": {"model": "mixed"}, "to": "chat-then-gemini"}])


# ----------------------------------------------------------------- clients


def ask_anthropic(conn, model: str, stream: bool):
    kw = {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": PROMPT}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
                   "allowed_domains": ["example.com", "example.org"]}],
    }  # fmt: skip
    client = conn.anthropic()
    if stream:
        with client.messages.stream(**kw) as s:
            return s.get_final_message()
    return client.messages.create(**kw)


def ask_responses(conn, model: str, stream: bool):
    tool = {"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}
    kw = {"model": model, "input": PROMPT, "tools": [tool]}
    client = conn.openai("openai-responses")
    if stream:
        with client.responses.stream(**kw) as s:
            return s.get_final_response()
    return client.responses.create(**kw)


def ask_gemini(conn, model: str, stream: bool):
    config = gtypes.GenerateContentConfig(tools=[gtypes.Tool(google_search=gtypes.GoogleSearch())])
    client = conn.gemini()
    if not stream:
        response = client.models.generate_content(model=model, contents=PROMPT, config=config)
        return response.text, response.candidates[0].grounding_metadata
    text, grounding = "", None
    for chunk in client.models.generate_content_stream(model=model, contents=PROMPT,
                                                       config=config):
        candidate = chunk.candidates[0]
        text += "".join(p.text or "" for p in (candidate.content.parts or []))
        if candidate.grounding_metadata and candidate.grounding_metadata.grounding_chunks:
            grounding = candidate.grounding_metadata
    return text, grounding


# ------------------------------------------------------------------ checks


def check_upstream_tool(fake, target: str) -> None:
    """The target got its own search tool (never a dropped or foreign one)."""
    calls = fake.model_calls()
    assert len(calls) == 1 and calls[0].format == target
    tools = calls[0].body.get("tools") or []
    if target == "anthropic":
        assert any(str(t.get("type", "")).startswith("web_search_") for t in tools), tools
    elif target == "openai-responses":
        assert any(t.get("type") in ("web_search", "web_search_preview") for t in tools), tools
    else:
        assert any("googleSearch" in t or "google_search" in t for t in tools), tools


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", SEARCHING)
def test_anthropic_client_gets_server_tool_blocks_and_citations(conn, fake, target, stream):
    fake.script([ANSWER])
    message = ask_anthropic(conn, f"to-{target}", stream)
    kinds = [type(b).__name__ for b in message.content]
    assert "ServerToolUseBlock" in kinds and "WebSearchToolResultBlock" in kinds, kinds
    call = next(b for b in message.content if b.type == "server_tool_use")
    result = next(b for b in message.content if b.type == "web_search_tool_result")
    assert call.name == "web_search" and call.input["query"].startswith("search:")
    assert result.tool_use_id == call.id
    assert [r.url for r in result.content][0] == URL
    texts = [b for b in message.content if b.type == "text"]
    assert "".join(b.text for b in texts) == ANSWER.text
    cited = [c for b in texts for c in (b.citations or [])]
    assert cited and cited[0].type == "web_search_result_location" and cited[0].url == URL
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    check_upstream_tool(fake, target)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", SEARCHING)
def test_responses_client_gets_web_search_call_and_url_citations(conn, fake, target, stream):
    fake.script([ANSWER])
    response = ask_responses(conn, f"to-{target}", stream)
    searches = [i for i in response.output if i.type == "web_search_call"]
    assert searches and searches[0].status == "completed"
    assert searches[0].action.query.startswith("search:")
    if target != "openai-responses":  # (the client asked for no sources from its own vendor)
        assert [s.url for s in searches[0].action.sources] == [u for u, _, _ in RESULTS]
    assert response.output_text == ANSWER.text
    notes = [a for i in response.output if i.type == "message" for p in i.content
             for a in p.annotations]  # fmt: skip
    assert notes and notes[0].type == "url_citation" and notes[0].url == URL
    assert 0 <= notes[0].start_index < notes[0].end_index <= len(ANSWER.text)
    check_upstream_tool(fake, target)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("target", SEARCHING)
def test_gemini_client_gets_grounding_metadata(conn, fake, target, stream):
    fake.script([ANSWER])
    text, grounding = ask_gemini(conn, f"to-{target}", stream)
    assert text == ANSWER.text
    assert grounding is not None
    assert grounding.web_search_queries and grounding.web_search_queries[0].startswith("search:")
    assert grounding.grounding_chunks[0].web.uri == URL
    support = grounding.grounding_supports[0]
    assert support.grounding_chunk_indices == [0]
    assert (support.segment.start_index or 0) == 0
    assert support.segment.end_index == len(ANSWER.text.encode())
    check_upstream_tool(fake, target)


def check_chat_upstream(fake, target: str) -> None:
    if target != "openai-chat":
        return check_upstream_tool(fake, target)
    (call,) = fake.model_calls()
    assert call.body["web_search_options"] == {"search_context_size": "low"}


@pytest.mark.parametrize("target", CHAT_TARGETS)
def test_chat_client_search_options_get_url_citations(conn, fake, target):
    """A chat client's web_search_options (the search models' switch) reach a
    target's search tool; its answer's citations come back as annotations."""
    fake.script([ANSWER])
    client = conn.openai("openai-chat")
    done = client.chat.completions.create(
        model=f"to-{target}", messages=[{"role": "user", "content": PROMPT}],
        web_search_options={"search_context_size": "low"},
    )  # fmt: skip
    message = done.choices[0].message
    assert message.content == ANSWER.text
    assert message.annotations and message.annotations[0].url_citation.url == URL
    check_chat_upstream(fake, target)


@pytest.mark.parametrize("target", CHAT_TARGETS)
def test_chat_client_streamed_search_gets_an_annotations_delta(conn, fake, target):
    fake.script([ANSWER])
    client = conn.openai("openai-chat")
    with client.chat.completions.stream(
        model=f"to-{target}", messages=[{"role": "user", "content": PROMPT}],
        web_search_options={"search_context_size": "low"},
    ) as stream:  # fmt: skip
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        done = stream.get_final_completion()
    assert done.choices[0].message.content == ANSWER.text
    notes = [a for c in chunks if c.choices
             for a in (c.choices[0].delta.model_extra or {}).get("annotations", [])]  # fmt: skip
    assert notes and notes[0]["url_citation"]["url"] == URL
    assert notes[0]["url_citation"]["end_index"] == len(ANSWER.text)
    check_chat_upstream(fake, target)


def test_a_target_without_search_is_skipped_for_one_that_has_it(conn, fake):
    fake.script([ANSWER])
    message = ask_anthropic(conn, "mixed", stream=False)
    assert any(b.type == "web_search_tool_result" for b in message.content)
    check_upstream_tool(fake, "gemini")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_no_target_can_search_the_client_gets_its_own_error(conn, fake, stream):
    fake.script([ANSWER])
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask_anthropic(conn, "to-openai-chat", stream)
    message = str(caught.value)
    assert "web_search_20250305" in message
    assert "web_search: {backend: ...}" in message and "unsupported: drop" in message
    assert fake.model_calls() == [], "nothing may reach a provider that would drop the tool"


def test_responses_refusal_is_an_openai_error(conn, fake):
    with pytest.raises(openai.BadRequestError) as caught:
        ask_responses(conn, "to-openai-chat", stream=False)
    assert "web_search" in str(caught.value) and fake.model_calls() == []


# ------------------------------------------- a search only offered (Codex's every turn)

SHELL = {"type": "function", "name": "shell", "description": "Run a command",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                        "required": ["cmd"]}}  # fmt: skip


def ask_codex_like(conn, stream: bool):
    """What Codex sends every turn: its own function tools and web_search beside them."""
    kw = {"model": "to-openai-chat", "input": "List the files here.",
          "tools": [SHELL, {"type": "web_search"}]}
    client = conn.openai("openai-responses")
    if stream:
        with client.responses.stream(**kw) as s:
            return s.get_final_response()
    return client.responses.create(**kw)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_search_only_offered_is_no_refusal_without_a_backend(conn, fake, stream):
    """Refusing would fail every Codex turn routed to a chat provider: the turn
    is answered, and the model is offered a search it can call."""
    fake.script([Reply(text="Here are the files.")])
    response = ask_codex_like(conn, stream)
    assert response.output_text == "Here are the files."
    (call,) = fake.model_calls()
    names = [t["function"]["name"] for t in call.body["tools"]]
    assert names == ["shell", "web_search"]


def test_a_search_called_without_a_backend_fails_visibly(conn, fake):
    """The model calls the search: the client sees a failed search, the model
    reads why (web_search.backend) and says it could not search; nothing pretends."""
    from fakeprovider import ToolCall

    fake.script([Reply(tool_calls=[ToolCall("web_search", {"query": "paris weather"})]),
                 Reply(text="I could not search the web here.")])
    response = ask_codex_like(conn, stream=True)
    searches = [i for i in response.output if i.type == "web_search_call"]
    assert len(searches) == 1 and searches[0].status == "failed"
    assert response.output_text == "I could not search the web here."
    first, second = fake.model_calls()
    results = [m for m in second.body["messages"] if m["role"] == "tool"]
    assert len(results) == 1 and "web_search.backend" in str(results[0]["content"])


def test_a_search_forced_by_tool_choice_is_still_refused(conn, fake):
    client = conn.openai("openai-responses")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="to-openai-chat", input="news?",
                                tools=[SHELL, {"type": "web_search"}],
                                tool_choice={"type": "web_search"})
    assert fake.model_calls() == []
