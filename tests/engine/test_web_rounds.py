"""The web tool loop's pure half: tools swapped for functions, and rounds of
provider events spliced into one client stream."""

from __future__ import annotations

from omniroute_mitm.engine.execute.webtools.rounds import Rounds, search_text, swap_tools, web_tools
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Request,
    StreamEvent,
    StreamStart,
    Text,
    Tool,
    ToolCall,
    Usage,
    WebFetch,
    WebSearch,
    WebSearchCall,
    WebSearchResult,
    WebSearchResults,
)


class Canned:
    """A provider stream decoder that answers given events."""

    def __init__(self, events: list[StreamEvent], tail: list[StreamEvent]) -> None:
        self.events, self.tail = events, tail

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out, self.events = self.events, []
        return out

    def finish(self) -> list[StreamEvent]:
        return self.tail


def test_server_tools_become_functions_next_to_the_clients_own() -> None:
    request = Request("m", tools=[
        Tool("web_search", kind="builtin", server=WebSearch(max_uses=2)),
        Tool("web_fetch", kind="builtin", server=WebFetch()),
        Tool("web_search", "the client's own", {"type": "object"}),
    ])  # fmt: skip
    tools = web_tools(request)
    assert tools is not None and tools.search is not None and tools.search.max_uses == 2
    swap_tools(request, tools)
    assert [(t.name, t.kind, t.server) for t in request.tools] == [
        ("web_search", "function", None), ("web_search_2", "function", None),
        ("web_fetch", "function", None),
    ]  # fmt: skip
    assert tools.names == {"web_search_2": "web_search", "web_fetch": "web_fetch"}
    assert request.tools[1].parameters == {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to search for."}},
        "required": ["query"],
    }
    assert web_tools(Request("m", tools=[Tool("f")])) is None


def test_rounds_splice_into_one_stream() -> None:
    request = Request("m", tools=[Tool("web_search", kind="builtin", server=WebSearch())])
    tools = web_tools(request)
    assert tools is not None
    swap_tools(request, tools)
    rounds = Rounds(tools)
    rounds.next_round(Canned([
        StreamStart("r1", "m", Usage(10, 0)),
        BlockStart(0, Text("")), BlockDelta(0, "Looking."), BlockEnd(0),
        BlockStart(1, ToolCall("call_1", "web_search")),
        BlockDelta(1, '{"query": "ru'), BlockDelta(1, 'st"}'), BlockEnd(1),
    ], [Finish("tool_use", Usage(10, 5))]))  # fmt: skip
    first = rounds.feed(b"x")
    rounds.end_round()
    assert [type(e).__name__ for e in first] == [
        "StreamStart", "BlockStart", "BlockDelta", "BlockEnd"
    ]  # fmt: skip
    assert [(c.id, c.arguments) for c in rounds.calls] == [("call_1", '{"query": "rust"}')]
    said = rounds.said.response.parts
    assert [type(p).__name__ for p in said] == ["Text", "ToolCall"] and said[0].text == "Looking."

    found = WebSearchResults("srv_1", [WebSearchResult("https://rust-lang.org", "Rust")])
    rounds.inject([WebSearchCall("srv_1", query="rust"), found])
    rounds.count(searches=1)
    rounds.next_round(Canned([
        StreamStart("r2", "m"), BlockStart(0, Text("")), BlockDelta(0, "Rust is."), BlockEnd(0),
    ], [Finish("stop", Usage(20, 7))]))  # fmt: skip
    second = rounds.feed(b"x")
    rounds.end_round()
    second += rounds.finish()
    starts = [e for e in second if isinstance(e, BlockStart)]
    assert [(e.index, type(e.part).__name__) for e in starts] == [
        (1, "WebSearchCall"), (2, "WebSearchResults"), (3, "Text")
    ]  # fmt: skip
    assert not any(isinstance(e, StreamStart) for e in second)
    assert [e for e in second if isinstance(e, Finish)] == [
        Finish("stop", Usage(30, 12, web_search_requests=1))
    ]
    assert rounds.said.response.parts[0].text == "Rust is."


def test_results_read_as_a_numbered_list() -> None:
    found = WebSearchResults("s", [
        WebSearchResult("https://a.example/", "A", "About a.", page_age="2 days ago"),
        WebSearchResult("https://b.example/"),
    ])  # fmt: skip
    assert search_text(found) == (
        "1. A\n   URL: https://a.example/\n   Age: 2 days ago\n   About a.\n"
        "2. https://b.example/\n   URL: https://b.example/"
    )
    assert search_text(WebSearchResults("s")) == "No results."
