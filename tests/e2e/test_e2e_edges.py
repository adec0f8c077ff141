"""Edges found by probing, through a real mitmdump:

- content of a type the translators do not know is a 400 in the client's
  format on a cross-format route (never an answer to a prompt the client did
  not send); the same format passes it through; a search result reaches a
  provider of another format as text.
"""

from __future__ import annotations

import anthropic
import pytest
from fakeprovider import Reply

pytestmark = pytest.mark.e2e

UNKNOWN = {"type": "hologram", "data": "what is the capital of France?"}
SEARCH = {
    "type": "search_result",
    "source": "https://docs.example/paris",
    "title": "Paris facts",
    "content": [{"type": "text", "text": "Paris is the capital of France."}],
}


# ----------------------------------------------------------- unknown content


def test_an_unknown_block_on_a_cross_format_route_is_a_400_naming_it(conn, fake):
    fake.script([Reply(text="an answer to nothing")])
    with pytest.raises(anthropic.BadRequestError) as caught:
        conn.anthropic().messages.create(
            model="to-openai-chat", max_tokens=50,
            messages=[{"role": "user", "content": [UNKNOWN]}],  # type: ignore[list-item]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "'hologram'" in message and "messages[0].content[0]" in message
    assert fake.model_calls() == []


def test_an_unknown_block_passes_through_to_the_same_format(conn, fake):
    fake.script([Reply(text="the provider's own answer")])
    got = conn.anthropic().messages.create(
        model="to-anthropic", max_tokens=50,
        messages=[{"role": "user", "content": [UNKNOWN]}],  # type: ignore[list-item]
    )
    assert got.content[0].text == "the provider's own answer"  # type: ignore[union-attr]
    (sent,) = fake.model_calls()
    assert sent.body["messages"][0]["content"] == [UNKNOWN]


def test_a_search_result_reaches_a_chat_provider_as_text(conn, fake):
    fake.script([Reply(text="Paris")])
    got = conn.anthropic().messages.create(
        model="to-openai-chat", max_tokens=50,
        messages=[{"role": "user", "content": [  # type: ignore[list-item]
            SEARCH, {"type": "text", "text": "What is the capital?"}]}],
    )
    assert got.content[0].text == "Paris"  # type: ignore[union-attr]
    (sent,) = fake.model_calls()
    first = sent.body["messages"][0]["content"][0]
    assert first["type"] == "text"
    for piece in ("Paris facts", "https://docs.example/paris", "Paris is the capital of France."):
        assert piece in first["text"]
