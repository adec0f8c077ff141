"""The pure half of the engine's web tool loop (no I/O): the client's server
web tools swapped for function tools the target can call, and the rounds
of the target's answers spliced into one canonical stream for the client.

Each round is one provider stream. Its text, reasoning and the client's own
tool calls pass on (block indexes renumbered so they keep increasing across
rounds); calls to our functions are held back whole, for the loop to run;
the rounds' starts after the first and their finishes are dropped, and one
finish with the usage of every round ends the client's stream. The search
and fetch blocks the loop runs in between go in with :meth:`Rounds.inject`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field

from omniroute_mitm.translators.base import StreamDecoder
from omniroute_mitm.translators.canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Part,
    Request,
    StopReason,
    StreamError,
    StreamEvent,
    StreamStart,
    Tool,
    ToolCall,
    Usage,
    WebFetch,
    WebFetchResult,
    WebSearch,
    WebSearchResults,
)
from omniroute_mitm.translators.stream import Accumulator

SEARCH_DESCRIPTION = (
    "Search the web. Returns result titles, URLs and snippets. Use it for anything "
    "recent or that you are unsure about, then answer from the results and name the "
    "URLs you rely on."
)
FETCH_DESCRIPTION = (
    "Fetch a web page or document by URL and return its text. Only URLs that "
    "appear in the conversation or in search results can be fetched."
)


@dataclass(slots=True)
class WebTools:
    """The server web tools a request asked for, and the function names the
    target sees for them (``web_search``/``web_fetch``, suffixed when the
    client has a function of that name itself)."""

    search: WebSearch | None = None
    fetch: WebFetch | None = None
    names: dict[str, str] = field(default_factory=dict)
    """Function name -> :data:`WEB_SEARCH` or :data:`WEB_FETCH`."""


def web_tools(request: Request) -> WebTools | None:
    """What server web tools ``request`` has (None: none)."""
    tools = WebTools()
    for tool in request.tools:
        if isinstance(tool.server, WebSearch) and tools.search is None:
            tools.search = tool.server
        elif isinstance(tool.server, WebFetch) and tools.fetch is None:
            tools.fetch = tool.server
    return tools if tools.search or tools.fetch else None


def swap_tools(request: Request, tools: WebTools) -> None:
    """Replace the server web tools by function tools (in place)."""
    taken = {t.name for t in request.tools if t.server is None}
    kept = [t for t in request.tools if not isinstance(t.server, WebSearch | WebFetch)]
    if tools.search is not None:
        name = _free(WEB_SEARCH, taken)
        tools.names[name] = WEB_SEARCH
        kept.append(Tool(name, SEARCH_DESCRIPTION, _schema("query", "What to search for.")))
    if tools.fetch is not None:
        name = _free(WEB_FETCH, taken)
        tools.names[name] = WEB_FETCH
        kept.append(Tool(name, FETCH_DESCRIPTION, _schema("url", "The URL to fetch.")))
    request.tools = kept


def _free(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _schema(field_name: str, description: str) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {field_name: {"type": "string", "description": description}},
        "required": [field_name],
    }


def argument(call: ToolCall, name: str) -> str | None:
    """The string argument ``name`` of a held call (None: missing or bad JSON)."""
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        return None
    value = args.get(name) if isinstance(args, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def search_text(results: WebSearchResults) -> str:
    """Search results as the model reads them in its tool result."""
    if not results.results:
        return "No results."
    lines = []
    for i, hit in enumerate(results.results, 1):
        lines.append(f"{i}. {hit.title or hit.url}\n   URL: {hit.url}")
        if hit.page_age:
            lines.append(f"   Age: {hit.page_age}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    return "\n".join(lines)


def fetch_text(result: WebFetchResult) -> str:
    head = f"Title: {result.title}\n" if result.title else ""
    return f"{head}URL: {result.url}\n\n{result.text}"


def add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b
    values = {f.name: getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(Usage)}
    return Usage(**values)


class Rounds:
    """The canonical stream decoder a client's stream translator reads: the
    rounds' provider decoders behind it, spliced (see the module doc)."""

    def __init__(self, tools: WebTools) -> None:
        self.tools = tools
        self.started = False
        self.usage: Usage | None = None
        """All rounds' usage so far, searches and fetches included."""
        self.error: ErrorInfo | None = None
        self.stop_reason: StopReason = "stop"
        self._decoder: StreamDecoder | None = None
        self._next = 0
        self._queue: list[StreamEvent] = []
        self._begin_round()

    def _begin_round(self) -> None:
        self.calls: list[ToolCall] = []
        """This round's calls to our functions, whole."""
        self.client_calls = False
        """This round called the client's own tools."""
        self.said = Accumulator()
        """This round as the provider sent it (the model's turn, for the next round)."""
        self._map: dict[int, int] = {}
        self._held: dict[int, ToolCall] = {}
        self._round_usage: Usage | None = None

    def next_round(self, decoder: StreamDecoder) -> None:
        """The next round's provider stream decoder (``feed``/``finish``)."""
        self._decoder = decoder
        self._begin_round()

    # the StreamDecoder protocol, for StreamTranslator
    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out, self._queue = self._queue, []
        if chunk and self._decoder is not None:
            out += self._splice(self._decoder.feed(chunk))
        return out

    def finish(self) -> list[StreamEvent]:
        """The client's stream ends: what is queued, and one finish."""
        out, self._queue = self._queue, []
        if self.error is None:
            out.append(Finish(self.stop_reason, self.usage))
        return out

    def end_round(self) -> None:
        """The round's provider stream ended: its last events queued."""
        if self._decoder is not None:
            self._queue += self._splice(self._decoder.finish())
        self._held.clear()  # a call cut off mid-arguments is not run
        self.usage = add_usage(self.usage, self._round_usage)

    def inject(self, parts: list[Part]) -> None:
        """Whole blocks of the loop's own (search and fetch calls, results)."""
        for part in parts:
            index = self._take()
            self._queue += [BlockStart(index, part), BlockEnd(index)]

    def count(self, searches: int = 0, fetches: int = 0) -> None:
        usage = self.usage or Usage()
        usage.web_search_requests += searches
        usage.web_fetch_requests += fetches
        self.usage = usage

    def _take(self) -> int:
        index, self._next = self._next, self._next + 1
        return index

    def _splice(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            self.said.feed(event)
            kept = self._one(event)
            if kept is not None:
                out.append(kept)
        return out

    def _one(self, event: StreamEvent) -> StreamEvent | None:
        if isinstance(event, StreamStart):
            self._round_usage = event.usage
            first, self.started = not self.started, True
            return event if first else None
        if isinstance(event, BlockStart):
            return self._start(event)
        if isinstance(event, BlockDelta | BlockCitation | BlockEnd):
            return self._inside(event)
        if isinstance(event, Finish):
            self.stop_reason = event.stop_reason
            self._round_usage = event.usage or self._round_usage
            return None
        if isinstance(event, StreamError):
            self.error = event.error
        return event

    def _start(self, event: BlockStart) -> StreamEvent | None:
        part = event.part
        if isinstance(part, ToolCall) and part.name in self.tools.names:
            self._held[event.index] = ToolCall(part.id, part.name, part.arguments)
            return None
        if isinstance(part, ToolCall):
            self.client_calls = True
        self._map[event.index] = self._take()
        # a copy: ``said`` grows the provider's part, the client's side its own
        return BlockStart(self._map[event.index], copy.deepcopy(part))

    def _inside(self, event: BlockDelta | BlockCitation | BlockEnd) -> StreamEvent | None:
        held = self._held.get(event.index)
        if held is not None:
            if isinstance(event, BlockDelta):
                held.arguments += event.text
            elif isinstance(event, BlockEnd):
                self.calls.append(self._held.pop(event.index))
            return None
        index = self._map.get(event.index)
        if index is None:
            return None  # a block the provider never opened
        return dataclasses.replace(event, index=index)
