"""The canonical model: one superset of the four wire formats.

Every wire format converts to and from these types and nothing else, so each
format knows only itself and the hub. Conventions the spokes rely on:

* ``meta`` on a part holds provider data keyed by the wire-format name that
  issued it (``{"anthropic": {"signature": "..."}}``,
  ``{"gemini": {"thoughtSignature": "..."}}``,
  ``{"openai-responses": {"id": "rs_1", "encrypted_content": "..."}}``).
  A renderer reads only its own key, so a signature is only ever sent back
  to the format that issued it.
* Usage counts follow OpenAI's arithmetic: ``input_tokens`` includes cached
  (read and written) tokens, ``output_tokens`` includes reasoning tokens.
  Formats that count differently convert at their edge.
* Tool results live in ``user`` messages (as in Anthropic and Gemini); a
  ``system`` message inside ``messages`` is a mid-conversation instruction
  (Claude Code's ``role: "system"``, Responses developer messages).
* A stream is a sequence of :data:`StreamEvent`: ``StreamStart``, then
  blocks (``BlockStart``, ``BlockDelta``/``BlockCitation``..., ``BlockEnd``) with unique,
  increasing indexes and at most one block open at a time, then ``Finish``;
  ``StreamError`` may replace ``Finish``.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

FormatName = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
FORMAT_NAMES: tuple[FormatName, ...] = ("openai-chat", "openai-responses", "anthropic", "gemini")

Meta = dict[str, dict[str, Any]]
"""Provider data keyed by the wire-format name that issued it."""


# --------------------------------------------------------------------------- parts


@dataclass(slots=True)
class Citation:
    """A source the text around it rests on (web search or fetch results).

    ``start``/``end`` are character offsets (Python ``str`` indexes) into the
    text of the :class:`Text` that holds the citation, end exclusive, when
    the format locates the span (Responses ``start_index``/``end_index``,
    Gemini ``segment`` byte offsets converted at the Gemini edge); ``None``
    when it does not (Anthropic: the whole text block is the cited span).
    ``cited_text`` is the quoted source passage (Anthropic), ``None`` when
    the format gives none. ``meta`` keeps format-only fields (Anthropic's
    ``encrypted_index``).
    """

    url: str
    title: str | None = None
    cited_text: str | None = None
    start: int | None = None
    end: int | None = None
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class Text:
    text: str
    cache_control: dict[str, Any] | None = None
    meta: Meta = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)
    """Web sources of this text (see :class:`Citation`); empty for most."""


@dataclass(slots=True)
class Media:
    """An image, document or audio clip, inline (base64 ``data``) or by ``url``."""

    media_type: str
    data: str | None = None
    url: str | None = None
    filename: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None
    meta: Meta = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    def omitted_note(self) -> str:
        """What the model reads instead of an attachment its target cannot
        take (audio by URL, say): the same words for every target format."""
        name = f" {self.filename}" if self.filename else ""
        return f"[attachment{name} ({self.media_type}) omitted]"


@dataclass(slots=True)
class Reasoning:
    """Model thinking. ``text`` may be empty (redacted or encrypted-only)."""

    text: str = ""
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class Refusal:
    text: str
    meta: Meta = field(default_factory=dict)


ToolKind = Literal["function", "custom"]


@dataclass(slots=True)
class ToolCall:
    """An assistant's tool call. ``arguments`` is JSON text for function tools
    and the raw freeform input for custom tools."""

    id: str
    name: str
    arguments: str = ""
    kind: ToolKind = "function"
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Media] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None
    kind: ToolKind = "function"
    cache_control: dict[str, Any] | None = None
    meta: Meta = field(default_factory=dict)


def error_in_words(result: ToolResult) -> list[Text | Media]:
    """A failed tool result's content for a target with no error flag
    (OpenAI Chat, Responses): the nearest faithful thing is to tell the model
    in words, so the first text starts with ``Error: `` (or is ``Error``).
    Anthropic (``is_error``) and Gemini (``response.error``) keep the flag.
    The content as it is when the result did not fail."""
    if not result.is_error:
        return result.content
    content = list(result.content)
    for i, part in enumerate(content):
        if isinstance(part, Text):
            text = f"Error: {part.text}" if part.text else "Error"
            content[i] = Text(text, part.cache_control, part.meta)
            return content
    return [Text("Error"), *content]


@dataclass(slots=True)
class Opaque:
    """A format-specific item with no canonical meaning (server tool use,
    web search results, ...). Rendered only back into ``format``."""

    format: FormatName
    data: dict[str, Any]
    meta: Meta = field(default_factory=dict)
    unknown: tuple[str, str] | None = None
    """``(path, type)`` when ``format`` itself does not document this item
    (a client's typo, a block type newer than this translator): it cannot be
    translated, so rendering it into another format is an error
    (:func:`reject_unknown`), never a silent drop."""


def reject_unknown(request: Request, target: FormatName, checked: int = 0) -> None:
    """Raise for the first item of an unknown type that would have to be
    translated into ``target``: dropping it could leave the model a prompt
    the client did not send (a message whose only block it was). ``checked``:
    how many leading messages are known to have none (translators.rendered)."""
    for message in request.messages[checked:] if checked else request.messages:
        for part in message.parts:
            if isinstance(part, Opaque) and part.unknown and part.format != target:
                path, kind = part.unknown
                raise TranslationError(
                    path, f"unknown {part.format} content type {kind!r} cannot be sent to {target}"
                )


# ------------------------------------------------------------ web search and fetch
#
# Server-side web tools, in one shape for every format. A provider runs them
# (Anthropic ``web_search``/``web_fetch``, Responses ``web_search``, Gemini
# ``googleSearch``/``urlContext``) or, for a target with none, the engine does.
# In a request they are a :class:`Tool` with ``kind="builtin"`` and ``server``
# set; in a response, :class:`WebSearchCall` (the search or fetch the model
# made) followed by :class:`WebSearchResults` or :class:`WebFetchResult`
# (what it found, linked by ``call_id``), and :class:`Citation` on the text
# that uses them. Each is one complete stream block (``BlockStart`` carries
# it whole, no deltas). Formats without a slot for a field lose it; the
# renderers say which in a comment.

WebStatus = Literal["in_progress", "searching", "completed", "failed"]


@dataclass(slots=True)
class UserLocation:
    """Approximate location to localise search results (all optional)."""

    city: str | None = None
    region: str | None = None
    country: str | None = None
    """Two-letter ISO country code."""
    timezone: str | None = None
    """IANA time zone, ``America/New_York``."""


@dataclass(slots=True)
class WebSearch:
    """The web search server tool's options.

    ``max_uses``: searches allowed per request (Anthropic; the engine's loop
    honours it too). ``context_size``: Responses ``search_context_size``
    (``low``/``medium``/``high``). Domains are bare host names
    (``example.com``), a subdomain matching its parent.
    """

    allowed_domains: list[str] = field(default_factory=list)
    blocked_domains: list[str] = field(default_factory=list)
    user_location: UserLocation | None = None
    max_uses: int | None = None
    context_size: str | None = None
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class WebFetch:
    """The web fetch server tool's options (Anthropic ``web_fetch_*``,
    Gemini ``urlContext``). ``max_content_tokens`` caps a fetched page;
    ``citations`` asks for citations into fetched documents."""

    allowed_domains: list[str] = field(default_factory=list)
    blocked_domains: list[str] = field(default_factory=list)
    max_uses: int | None = None
    max_content_tokens: int | None = None
    citations: bool | None = None
    meta: Meta = field(default_factory=dict)


ServerTool = WebSearch | WebFetch

WEB_SEARCH = "web_search"
WEB_FETCH = "web_fetch"


@dataclass(slots=True)
class WebSearchCall:
    """A web search (``name="web_search"``, ``query``) or fetch
    (``name="web_fetch"``, ``url``) the model made, run server-side.
    ``id`` links it to its result's ``call_id``."""

    id: str
    name: str = WEB_SEARCH
    query: str | None = None
    url: str | None = None
    status: WebStatus = "completed"
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class WebSearchResult:
    """One hit. ``snippet`` is readable text (engine backends); Anthropic's
    ``encrypted_content`` is opaque and only Anthropic can read it back.
    ``page_age`` is the provider's free-form age (``"2 days ago"``)."""

    url: str
    title: str | None = None
    snippet: str | None = None
    encrypted_content: str | None = None
    page_age: str | None = None


@dataclass(slots=True)
class WebSearchResults:
    """What search ``call_id`` found; ``error`` is an error code
    (``max_uses_exceeded``, ``unavailable``, ...) when it failed."""

    call_id: str
    results: list[WebSearchResult] = field(default_factory=list)
    error: str | None = None
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class WebFetchResult:
    """The page fetch ``call_id`` retrieved: text only (``media_type`` as
    served), or ``error`` (``url_not_allowed``, ``unavailable``, ...)."""

    call_id: str
    url: str
    text: str = ""
    title: str | None = None
    media_type: str = "text/plain"
    retrieved_at: str | None = None
    error: str | None = None
    meta: Meta = field(default_factory=dict)


WebPart = WebSearchCall | WebSearchResults | WebFetchResult


def server_tool(request: Request, kind: type[WebSearch] | type[WebFetch]) -> Tool | None:
    """The request's server tool of ``kind`` (a :class:`Tool` whose
    ``server`` is an instance of it), or None."""
    for tool in request.tools:
        if isinstance(tool.server, kind):
            return tool
    return None


Part = (
    Text
    | Media
    | Reasoning
    | Refusal
    | ToolCall
    | ToolResult
    | Opaque
    | WebSearchCall
    | WebSearchResults
    | WebFetchResult
)

Role = Literal["system", "user", "assistant"]


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]
    meta: Meta = field(default_factory=dict)


# ------------------------------------------------------------------------- request


@dataclass(slots=True)
class Tool:
    """A tool definition. ``kind="builtin"`` is a provider's own tool (web
    search, code execution): ``meta[format]`` holds its raw definition.
    ``server`` is set for the web tools every format can express
    (``name`` is then :data:`WEB_SEARCH` or :data:`WEB_FETCH`); a builtin
    without it goes back only to its own format."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    kind: Literal["function", "custom", "builtin"] = "function"
    strict: bool | None = None
    custom_format: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    meta: Meta = field(default_factory=dict)
    server: ServerTool | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


@dataclass(slots=True)
class ReasoningConfig:
    """What the client asked of the model's thinking.

    ``enabled=False`` means explicitly off. ``budget_tokens`` and ``effort``
    are whichever the client gave; use :func:`effort_to_budget` and
    :func:`budget_to_effort` to fill the other. ``adaptive`` is Anthropic's
    ``thinking: {type: adaptive}`` (the model decides). ``summary`` is the
    Responses summary mode; ``include_thoughts`` asks for thinking text back.
    """

    enabled: bool = True
    effort: Effort | None = None
    budget_tokens: int | None = None
    adaptive: bool = False
    summary: str | None = None
    include_thoughts: bool | None = None


EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}


def effort_to_budget(effort: str | None, default: int = 8192) -> int:
    if effort is None:
        return default
    return EFFORT_BUDGETS.get(effort, default)


def budget_to_effort(budget: int | None) -> Effort:
    if budget is None:
        return "medium"
    if budget <= 1024:
        return "minimal"
    if budget <= 4096:
        return "low"
    if budget <= 12288:
        return "medium"
    if budget <= 24576:
        return "high"
    return "xhigh"


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[Text] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    reasoning: ReasoningConfig | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    include_usage: bool | None = None
    meta: Meta = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Renderers append what the target could not express (logged at debug)."""


# ------------------------------------------------------------------------ response

StopReason = Literal[
    "stop",  # natural end of turn
    "length",  # max tokens reached
    "tool_use",  # the model called tools
    "stop_sequence",  # a client stop sequence matched
    "content_filter",  # blocked by a safety system
    "refusal",  # the model refused
    "pause_turn",  # a long server-tool turn paused (Anthropic)
    "error",  # the provider ended the output with an error
]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    """The part of ``cache_creation_tokens`` cached for one hour (Anthropic's
    ``ephemeral_1h_input_tokens``, priced above the 5-minute writes)."""
    web_search_requests: int = 0
    """Server-side web searches run for this response (Anthropic
    ``server_tool_use.web_search_requests``; Responses ``web_search_call``
    items; Gemini ``webSearchQueries``), priced per search."""
    web_fetch_requests: int = 0
    """Server-side page fetches (Anthropic ``web_fetch_requests``)."""
    tool_prompt_tokens: int = 0
    """The part of ``input_tokens`` the provider put in the prompt itself
    for its own tools: Gemini's ``toolUsePromptTokenCount`` (the search
    results grounding read), billed as input. Every format counts them in
    its input (Anthropic and OpenAI count their own search results there
    too); only a Gemini rendering shows them apart again."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def output_with_reasoning(input_tokens: int, output: int, reasoning: int, total: Any) -> int:
    """Output tokens including reasoning, whichever convention a provider
    used. Most count reasoning inside the output; some (xAI's grok: prompt
    291, completion 26, reasoning 196, total 513) outside it. The total
    tells: when it is input + output + reasoning (and not input + output),
    the reasoning is added here, once, so every rendering adds up to the
    provider's total. Without a total, reasoning larger than the output can
    only be outside it."""
    if reasoning <= 0:
        return output
    if isinstance(total, int) and not isinstance(total, bool):
        outside = total == input_tokens + output + reasoning and total != input_tokens + output
    else:
        outside = reasoning > output
    return output + reasoning if outside else output


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[Part] = field(default_factory=list)
    stop_reason: StopReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None
    created: int | None = None
    meta: Meta = field(default_factory=dict)


# -------------------------------------------------------------------------- errors

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "overloaded",
    "server",
    "timeout",
]

KIND_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "overloaded": 529,
    "server": 500,
    "timeout": 504,
}


def kind_for_status(status: int) -> ErrorKind:
    table: dict[int, ErrorKind] = {
        400: "invalid_request",
        401: "authentication",
        403: "permission",
        404: "not_found",
        413: "request_too_large",
        422: "invalid_request",
        429: "rate_limit",
        503: "overloaded",
        529: "overloaded",
        504: "timeout",
        408: "timeout",
    }
    if status in table:
        return table[status]
    return "invalid_request" if 400 <= status < 500 else "server"


@dataclass(slots=True)
class ErrorInfo:
    status: int
    kind: ErrorKind
    message: str
    code: str | None = None
    param: str | None = None


class TranslationError(ValueError):
    """Input that cannot be parsed or expressed. ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def to_error_info(self) -> ErrorInfo:
        return ErrorInfo(400, "invalid_request", str(self), param=self.path or None)


# -------------------------------------------------------------------------- stream


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    usage: Usage | None = None
    created: int | None = None


@dataclass(slots=True)
class BlockStart:
    """Opens block ``index``. ``part`` is the block's kind with its fixed fields
    (a ``ToolCall`` with id and name, empty ``Text``/``Reasoning``/``Refusal``,
    or a complete ``Opaque`` or web part); its text grows through ``BlockDelta``."""

    index: int
    part: Part


@dataclass(slots=True)
class BlockCitation:
    """Adds ``citation`` to the open text block ``index`` (Anthropic
    ``citations_delta``, Responses ``output_text.annotation.added``). Its
    ``start``/``end`` index the block's text as streamed so far."""

    index: int
    citation: Citation


@dataclass(slots=True)
class BlockDelta:
    """Appends ``text`` to the open block: text, reasoning or refusal text, or
    a fragment of a tool call's arguments."""

    index: int
    text: str


@dataclass(slots=True)
class BlockEnd:
    """Closes block ``index``; ``meta`` is merged into the part's meta
    (signatures, encrypted content arrive at the end)."""

    index: int
    meta: Meta = field(default_factory=dict)


@dataclass(slots=True)
class Finish:
    stop_reason: StopReason
    usage: Usage | None = None
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    error: ErrorInfo


StreamEvent = (
    StreamStart | BlockStart | BlockDelta | BlockCitation | BlockEnd | Finish | StreamError
)


# -------------------------------------------------------------------- environment


@dataclass(slots=True)
class Env:
    """Where translators get ids and time, so they stay pure and testable."""

    new_id: Callable[[str], str] = field(default=lambda prefix: f"{prefix}{secrets.token_hex(12)}")
    now: Callable[[], int] = field(default=lambda: int(time.time()))


def counting_env(start: int = 1, now: int = 1_700_000_000) -> Env:
    """A deterministic Env for tests: ids ``<prefix>1``, ``<prefix>2``, ..."""
    counter = itertools.count(start)
    return Env(new_id=lambda prefix: f"{prefix}{next(counter)}", now=lambda: now)


def merge_meta(target: Meta, extra: Meta) -> None:
    for fmt, values in extra.items():
        target.setdefault(fmt, {}).update(values)


# ------------------------------------------------------- carrying foreign metadata
#
# A client can only echo back what its own format has room for. When thinking
# from one provider is shown to a client of another format, the encoder packs
# the issuing format's metadata into the client's own opaque field (Anthropic
# ``signature``, Gemini ``thoughtSignature``, Responses ``encrypted_content``),
# and the parser unpacks it when the client sends the turn back. The envelope is
# plain base64 (Gemini's SDK decodes thoughtSignature as bytes) of a marker and
# JSON, so it is valid wherever an opaque base64 string is.

_ENVELOPE_MARKER = b"\x00omr1"
_ENVELOPE_PREFIX = "AG9tcj"  # base64 of the marker's first four bytes


def wrap_meta(meta: Meta) -> str:
    """Pack foreign metadata into an opaque base64 string."""
    payload = json.dumps(meta, separators=(",", ":")).encode()
    return base64.b64encode(_ENVELOPE_MARKER + payload).decode("ascii")


def unwrap_meta(value: str | None) -> Meta | None:
    """The metadata packed by :func:`wrap_meta` (a new object each call), or
    None for anything else."""
    if not value or not value.startswith(_ENVELOPE_PREFIX):
        return None
    payload = _payload(value)
    if payload is None:
        return None
    meta = _loads(payload)  # (checked once, in _payload)
    return meta if isinstance(meta, dict) else None


def _loads(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:  # what only the json module reads (a lone surrogate)
        return json.loads(payload)


@functools.lru_cache(maxsize=1024)
def _payload(value: str) -> bytes | None:
    """An envelope's JSON, when it is one: decoded and checked once per value
    (a session resends the same envelopes with every turn; 1 MB of Claude
    Code history holds hundreds)."""
    try:
        raw = base64.b64decode(value, validate=True)
        if not raw.startswith(_ENVELOPE_MARKER):
            return None
        payload = raw[len(_ENVELOPE_MARKER) :]
        meta = _loads(payload)
    except (ValueError, TypeError):
        return None
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        return None
    return payload
