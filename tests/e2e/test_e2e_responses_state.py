"""Responses API state through mitmdump with the official openai SDK: a chain
of previous_response_id turns across a chat, an Anthropic and a Gemini
provider, the store's endpoints, store: false, and an engine restart."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import openai
import pytest
from e2e_harness import CLIENT_KEY, Mitmdump, client_ssl_context, e2e_config, start_mitmdump
from fakeprovider import Reply, ToolCall
from fakeprovider.sdk import Conn
from fakeprovider.upstream import text_of, tool_exchange

pytestmark = pytest.mark.e2e

CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": CITY}]
QUESTION, FOLLOW_UP, THANKS = "Weather in Paris?", "And tomorrow?", "Thanks!"
SUNNY, RAIN = "It is sunny in Paris.", "Rain tomorrow."


def texts(fmt: str, body: dict, role: str) -> list[str]:
    """The plain texts of one role in a provider request, in order."""
    if fmt == "gemini":
        want = {"user": "user", "assistant": "model"}[role]
        return [p["text"] for c in body["contents"] if c["role"] == want
                for p in c["parts"] if "text" in p and not p.get("thought")]  # fmt: skip
    out = []
    for m in body["messages"]:
        if m["role"] != role or m.get("content") is None:
            continue
        content = m["content"]
        if isinstance(content, str):
            out.append(content)
        else:
            out += [b["text"] for b in content if b.get("type") == "text"]
    return out


def create(client: openai.OpenAI, stream: bool, **kw):
    """A response, streamed or not; the completed Response either way."""
    if not stream:
        return client.responses.create(**kw)
    done = [e.response for e in client.responses.create(stream=True, **kw)
            if e.type == "response.completed"]  # fmt: skip
    assert len(done) == 1
    return done[0]


def chain(client: openai.OpenAI, fake, stream: bool) -> list:
    """Four turns: chat (a tool call), anthropic (its result), gemini, chat."""
    fake.script([Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_paris")]),
                 Reply(text=SUNNY), Reply(text=RAIN), Reply(text="You're welcome.")])  # fmt: skip
    r1 = create(client, stream, model="to-openai-chat", input=QUESTION, tools=TOOLS)
    assert r1.output[0].type == "function_call" and r1.output[0].call_id == "call_paris"
    output = {"type": "function_call_output", "call_id": "call_paris", "output": "sunny, 21C"}
    r2 = create(client, stream, model="to-anthropic", input=[output], tools=TOOLS,
                previous_response_id=r1.id)  # fmt: skip
    r3 = create(client, stream, model="to-gemini", input=FOLLOW_UP, tools=TOOLS,
                previous_response_id=r2.id)  # fmt: skip
    r4 = create(client, stream, model="to-openai-chat", input=THANKS, tools=TOOLS,
                previous_response_id=r3.id)  # fmt: skip
    assert r4.output_text == "You're welcome."
    return [r1, r2, r3, r4]


def assert_whole_conversation(fake) -> None:
    calls = fake.model_calls()
    assert [c.format for c in calls] == ["openai-chat", "anthropic", "gemini", "openai-chat"]
    users = [[QUESTION], [QUESTION], [QUESTION, FOLLOW_UP], [QUESTION, FOLLOW_UP, THANKS]]
    for call, want in zip(calls, users, strict=True):
        assert texts(call.format, call.body, "user") == want, call.format
    for call in calls[1:]:
        made, results = tool_exchange(call.format, call.body)
        assert [(name, args) for _, name, args in made] == [("get_weather", {"city": "Paris"})]
        assert [text_of(r) for _, r in results] == ["sunny, 21C"] or "sunny, 21C" in str(results)
    assert texts("gemini", calls[2].body, "assistant") == [SUNNY]
    assert texts("openai-chat", calls[3].body, "assistant") == [SUNNY, RAIN]
    assert all("previous_response_id" not in c.body for c in calls)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_a_chain_of_four_turns_across_three_providers(conn, fake, stream):
    responses = chain(conn.openai("openai-responses"), fake, stream)
    assert len({r.id for r in responses}) == 4
    assert_whole_conversation(fake)


def test_unknown_previous_id_is_a_400_and_reaches_no_provider(conn, fake):
    client = conn.openai("openai-responses")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="to-anthropic", input="hi", previous_response_id="resp_x1")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    assert "resp_x1" in caught.value.message
    assert fake.model_calls() == []


def stored(mitm: Mitmdump) -> dict[str, str]:
    """id -> data of every response in the database."""
    db = sqlite3.connect(mitm.confdir / "data" / "omniroute.sqlite")
    try:
        return dict(db.execute("SELECT id, data FROM responses").fetchall())
    finally:
        db.close()


def stored_ids(mitm: Mitmdump) -> set[str]:
    return set(stored(mitm))


def wait_stored(mitm: Mitmdump, response_id: str) -> None:
    deadline = time.monotonic() + 10
    while response_id not in stored_ids(mitm):  # the database commits in batches
        assert time.monotonic() < deadline, f"{response_id} never reached the database"
        time.sleep(0.1)


def test_store_false_keeps_nothing_in_the_database(conn, fake, mitm):
    client = conn.openai("openai-responses")
    fake.script([Reply(text="kept"), Reply(text="not kept")])
    kept = client.responses.create(model="to-anthropic", input="one")
    wait_stored(mitm, kept.id)
    unkept = client.responses.create(model="to-anthropic", input="two", store=False)
    marker = client.responses.create(model="to-anthropic", input="three")
    wait_stored(mitm, marker.id)  # written after the store: false one
    rows = stored(mitm)
    assert unkept.id not in rows
    assert not any('"two"' in data for data in rows.values())
    assert not any(CLIENT_KEY in data for data in rows.values())


def test_retrieve_input_items_and_delete_judged_by_the_sdk(conn, fake):
    client = conn.openai("openai-responses")
    r1, r2, *_ = chain(client, fake, stream=True)
    got = client.responses.retrieve(r2.id)
    assert isinstance(got, openai.types.responses.Response)
    assert got.id == r2.id and got.output_text == SUNNY
    assert got.previous_response_id == r1.id
    items = list(client.responses.input_items.list(r2.id, order="asc"))
    assert [i.type for i in items] == ["message", "function_call", "function_call_output"]
    assert items[0].content[0].text == QUESTION and items[1].call_id == "call_paris"
    assert client.responses.delete(r2.id) is None
    with pytest.raises(openai.APIStatusError):
        client.responses.input_items.list(r2.id).data  # noqa: B018  (gone from the store)


def test_the_chain_survives_an_engine_restart(tmp_path, ca_dir, e2e_provider, fake):
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port))
    fake.script([Reply(text=SUNNY), Reply(text=RAIN)])
    try:
        with connect(mitm) as conn:
            first = conn.openai("openai-responses").responses.create(
                model="to-anthropic", input=QUESTION)  # fmt: skip
    finally:
        mitm.stop()  # a clean stop commits what is queued
    again = Mitmdump(Path(mitm.config), mitm.confdir).start()
    try:
        with connect(again) as conn:
            conn.openai("openai-responses").responses.create(
                model="to-gemini", input=FOLLOW_UP, previous_response_id=first.id)  # fmt: skip
    finally:
        again.stop()
    last = fake.model_calls()[-1]
    assert texts("gemini", last.body, "user") == [QUESTION, FOLLOW_UP]
    assert texts("gemini", last.body, "assistant") == [SUNNY]


def connect(mitm: Mitmdump) -> Conn:
    return Conn(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), api_key=CLIENT_KEY)


def test_the_compact_endpoint_is_emulated_for_another_provider(conn, fake):
    client = conn.openai("openai-responses")
    fake.script([Reply(text="Asked about Paris; it is sunny."), Reply(text=RAIN)])
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": SUNNY}]
    raw = client.responses.with_raw_response.compact(model="to-anthropic", input=history)
    compacted = raw.parse()
    assert isinstance(compacted, openai.types.responses.CompactedResponse)
    assert [item.type for item in compacted.output] == ["message", "compaction"]
    assert compacted.usage.output_tokens > 0
    asked = fake.model_calls()[0].body
    assert "handoff summary" in texts("anthropic", asked, "user")[-1]

    carried = raw.http_response.json()["output"]  # as a client sends them back
    client.responses.create(model="to-gemini", input=[*carried, {"role": "user", "content": "?"}])
    users = texts("gemini", fake.model_calls()[1].body, "user")
    assert users[0] == QUESTION
    assert users[1].endswith("Asked about Paris; it is sunny.") and users[2] == "?"


def test_a_conversation_held_by_the_proxy_across_two_providers(conn, fake):
    client = conn.openai("openai-responses")
    fake.script([Reply(text="Blue."), Reply(text="Still blue.")])
    conv = client.conversations.create(items=[{"role": "user", "content": "My color is blue."}])
    assert isinstance(conv, openai.types.conversations.Conversation)
    first = client.responses.create(model="to-anthropic", conversation=conv.id, input="Color?")
    client.responses.create(model="to-gemini", conversation={"id": conv.id}, input="Again?")
    ant, gem = fake.model_calls()
    assert texts("anthropic", ant.body, "user") == ["My color is blue.", "Color?"]
    assert texts("gemini", gem.body, "user") == ["My color is blue.", "Color?", "Again?"]
    assert texts("gemini", gem.body, "assistant") == [first.output_text]

    items = list(client.conversations.items.list(conv.id, order="asc"))
    assert [(i.type, i.role) for i in items] == [("message", r) for r in
                                                ("user", "user", "assistant", "user", "assistant")]
    one = client.conversations.items.retrieve(items[1].id, conversation_id=conv.id)
    assert one.id == items[1].id
    assert client.conversations.retrieve(conv.id).id == conv.id
    gone = client.conversations.delete(conv.id)
    assert isinstance(gone, openai.types.conversations.ConversationDeletedResource) and gone.deleted
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="to-anthropic", conversation=conv.id, input="hi")
    assert len(fake.model_calls()) == 2
