"""Content a translator does not know is never dropped silently: a block or
part of an undocumented type is an error on a cross-format route (the model
would otherwise answer a prompt the client did not send); documented types
are converted (an Anthropic search result becomes text with its source and
title). The same format gets everything back as it came."""

from __future__ import annotations

from typing import Any

import pytest
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import Text, TranslationError, counting_env

OTHERS = {
    "anthropic": ("openai-chat", "openai-responses", "gemini"),
    "openai-responses": ("openai-chat", "anthropic", "gemini"),
    "gemini": ("openai-chat", "openai-responses", "anthropic"),
}


def _render(source: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
    request = get_format(source).parse_request(body, model="m", stream=False)
    return get_format(target).render_request(request, counting_env())


def _anthropic(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": list(blocks)},
        ],
    }


UNKNOWN_BLOCK = {"type": "hologram", "data": "what is the capital of France?"}


@pytest.mark.parametrize("target", OTHERS["anthropic"])
def test_an_unknown_anthropic_block_is_an_error_naming_type_and_place(target: str) -> None:
    body = _anthropic({"type": "text", "text": "look:"}, UNKNOWN_BLOCK)
    with pytest.raises(TranslationError) as caught:
        _render("anthropic", target, body)
    assert caught.value.path == "messages[2].content[1]"
    assert "'hologram'" in str(caught.value)
    assert caught.value.to_error_info().status == 400


def test_a_message_of_only_an_unknown_block_is_an_error_not_an_empty_prompt() -> None:
    body = {"model": "claude-x", "max_tokens": 10, "messages": [
        {"role": "user", "content": [UNKNOWN_BLOCK]}
    ]}  # fmt: skip
    with pytest.raises(TranslationError, match="hologram"):
        _render("anthropic", "openai-chat", body)


def test_an_unknown_anthropic_block_goes_back_to_anthropic_as_it_came() -> None:
    rendered = _render("anthropic", "anthropic", _anthropic(UNKNOWN_BLOCK))
    assert rendered["messages"][-1]["content"] == [UNKNOWN_BLOCK]


@pytest.mark.parametrize("target", OTHERS["anthropic"])
def test_anthropic_server_tool_blocks_are_still_left_out_quietly(target: str) -> None:
    body = _anthropic({"type": "text", "text": "hi"})
    body["messages"][1]["content"] = [
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
        {"type": "text", "text": "ok"},
    ]
    rendered = _render("anthropic", target, body)
    assert "srv_1" not in str(rendered)


SEARCH = {
    "type": "search_result",
    "source": "https://docs.example/paris",
    "title": "Paris facts",
    "content": [
        {"type": "text", "text": "Paris is the capital of France."},
        {"type": "text", "text": "It has 2.1 million inhabitants."},
    ],
    "citations": {"enabled": True},
}
SEARCH_TEXT = (
    "Search result: Paris facts\nSource: https://docs.example/paris\n\n"
    "Paris is the capital of France.\n\nIt has 2.1 million inhabitants."
)


def test_a_search_result_parses_as_text_with_source_and_title() -> None:
    body = _anthropic(SEARCH, {"type": "text", "text": "?"})
    request = get_format("anthropic").parse_request(body)
    first = request.messages[-1].parts[0]
    assert isinstance(first, Text) and first.text == SEARCH_TEXT


def test_a_search_result_reaches_chat_as_text() -> None:
    body = _anthropic(SEARCH, {"type": "text", "text": "?"})
    rendered = _render("anthropic", "openai-chat", body)
    content = rendered["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": SEARCH_TEXT}
    assert content[1] == {"type": "text", "text": "?"}


def test_a_search_result_reaches_responses_and_gemini_as_text() -> None:
    body = _anthropic(SEARCH)
    responses = _render("anthropic", "openai-responses", body)
    assert responses["input"][-1]["content"] == [{"type": "input_text", "text": SEARCH_TEXT}]
    gemini = _render("anthropic", "gemini", body)
    assert gemini["contents"][-1]["parts"] == [{"text": SEARCH_TEXT}]


def test_a_search_result_goes_back_to_anthropic_as_it_came() -> None:
    rendered = _render("anthropic", "anthropic", _anthropic(SEARCH))
    assert rendered["messages"][-1]["content"] == [SEARCH]


def test_a_search_result_in_a_tool_result_is_text_for_other_formats() -> None:
    body = _anthropic({"type": "text", "text": "x"})
    body["messages"][1]["content"] = [{"type": "tool_use", "id": "t1", "name": "find", "input": {}}]
    body["messages"][2]["content"] = [
        {"type": "tool_result", "tool_use_id": "t1", "content": [SEARCH]}
    ]
    chat = _render("anthropic", "openai-chat", body)
    tool = [m for m in chat["messages"] if m["role"] == "tool"][0]
    assert SEARCH_TEXT in str(tool["content"])
    again = _render("anthropic", "anthropic", body)
    assert again["messages"][-1]["content"][0]["content"] == [SEARCH]


@pytest.mark.parametrize("broken", [
    {"type": "search_result", "title": "t", "content": []},
    {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "image"}]},
])  # fmt: skip
def test_a_malformed_search_result_is_an_error(broken: dict[str, Any]) -> None:
    with pytest.raises(TranslationError, match=r"messages\[2\]\.content\[0\]"):
        get_format("anthropic").parse_request(_anthropic(broken))


# ----------------------------------------------------------------- Gemini


def _gemini(*parts: dict[str, Any], role: str = "user") -> dict[str, Any]:
    first = {"role": "user", "parts": [{"text": "hi"}]}
    return {"contents": [first, {"role": role, "parts": list(parts)}]}


@pytest.mark.parametrize("target", OTHERS["gemini"])
@pytest.mark.parametrize("role", ["user", "model"])
def test_an_unknown_gemini_part_is_an_error(target: str, role: str) -> None:
    body = _gemini({"text": "see"}, {"hologramData": {"x": 1}}, role=role)
    with pytest.raises(TranslationError) as caught:
        _render("gemini", target, body)
    assert caught.value.path == "contents[1].parts[1]"
    assert "'hologramData'" in str(caught.value)


def test_an_unknown_gemini_part_goes_back_to_gemini() -> None:
    rendered = _render("gemini", "gemini", _gemini({"hologramData": {"x": 1}}))
    assert {"hologramData": {"x": 1}} in rendered["contents"][-1]["parts"]


@pytest.mark.parametrize("target", OTHERS["gemini"])
def test_gemini_code_execution_parts_are_still_left_out_quietly(target: str) -> None:
    body = _gemini(
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"code_execution_result": {"outcome": "OUTCOME_OK", "output": "1"}},
        {"text": "done"},
        role="model",
    )
    body["contents"].append({"role": "user", "parts": [{"text": "thanks"}]})
    assert "print(1)" not in str(_render("gemini", target, body))


# -------------------------------------------------------------- Responses


def _responses(*items: dict[str, Any]) -> dict[str, Any]:
    return {"model": "gpt-x", "input": [{"role": "user", "content": "hi"}, *items]}


@pytest.mark.parametrize("target", OTHERS["openai-responses"])
def test_an_unknown_responses_item_is_an_error(target: str) -> None:
    with pytest.raises(TranslationError) as caught:
        _render("openai-responses", target, _responses({"type": "hologram_call", "id": "h1"}))
    assert caught.value.path == "input[1]"
    assert "'hologram_call'" in str(caught.value)


@pytest.mark.parametrize("target", OTHERS["openai-responses"])
def test_documented_responses_items_are_still_left_out_quietly(target: str) -> None:
    body = _responses(
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "item_reference", "id": "msg_1"},
    )
    assert "ws_1" not in str(_render("openai-responses", target, body))


@pytest.mark.parametrize("source,body,path", [
    ("openai-responses", _responses({"role": "user", "content": [{"type": "input_hologram"}]}),
     "input[1].content[0].type"),
    ("openai-chat",
     {"model": "m", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
     "messages[0].content[0].type"),
])  # fmt: skip
def test_unknown_content_parts_of_openai_formats_are_errors(
    source: str, body: dict[str, Any], path: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        get_format(source).parse_request(body)
    assert caught.value.path == path


# ------------------------------------------------- Anthropic sources and documents


def test_a_document_of_the_clients_own_text_reaches_other_formats_as_text() -> None:
    document = {
        "type": "document",
        "title": "Notes",
        "source": {"type": "content", "content": [
            {"type": "text", "text": "first note"}, {"type": "text", "text": "second note"}]},
    }  # fmt: skip
    chat = _render("anthropic", "openai-chat", _anthropic(document))
    expected = "Document: Notes\n\nfirst note\n\nsecond note"
    assert chat["messages"][-1]["content"] == expected  # one text: a plain string
    again = _render("anthropic", "anthropic", _anthropic(document))
    assert again["messages"][-1]["content"] == [document]


def test_a_document_with_an_image_inside_is_an_error_for_other_formats() -> None:
    document = {"type": "document", "source": {"type": "content", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x.example/a.png"}}]}}
    with pytest.raises(TranslationError) as caught:
        _render("anthropic", "gemini", _anthropic(document))
    assert caught.value.path == "messages[2].content[0].source.content[0]"


@pytest.mark.parametrize("block", ["image", "document"])
def test_an_unknown_source_type_is_an_error_for_other_formats(block: str) -> None:
    unknown = {"type": block, "source": {"type": "hologram", "ref": "h1"}}
    with pytest.raises(TranslationError) as caught:
        _render("anthropic", "openai-responses", _anthropic({"type": "text", "text": "x"}, unknown))
    assert caught.value.path == "messages[2].content[1].source.type"
    assert "'hologram'" in str(caught.value)
    again = _render("anthropic", "anthropic", _anthropic(unknown))
    assert again["messages"][-1]["content"] == [unknown]


def test_a_file_id_is_still_left_out_for_other_formats() -> None:
    image = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    chat = _render("anthropic", "openai-chat", _anthropic({"type": "text", "text": "x"}, image))
    assert "file_1" not in str(chat)


def test_a_compaction_summary_reaches_other_formats_as_text() -> None:
    body = _anthropic({"type": "text", "text": "go on"})
    compaction = {"type": "compaction", "content": "We fixed the parser; tests pass."}
    body["messages"][1]["content"] = [compaction]
    chat = _render("anthropic", "openai-chat", body)
    assert chat["messages"][1] == {"role": "assistant", "content": compaction["content"]}
    again = _render("anthropic", "anthropic", body)
    assert again["messages"][1]["content"] == [compaction]


def test_an_unknown_part_in_a_gemini_function_response_is_an_error() -> None:
    body = {"contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "weather", "response": {"output": "sunny"},
            "parts": [{"hologramData": {"x": 1}}]}}]},
    ]}  # fmt: skip
    with pytest.raises(TranslationError) as caught:
        get_format("gemini").parse_request(body, model="m")
    assert caught.value.path == "contents[2].parts[0].functionResponse.parts[0]"
    assert "'hologramData'" in str(caught.value)
