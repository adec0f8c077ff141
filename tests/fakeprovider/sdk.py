"""Drive the official SDKs (openai chat + responses, anthropic, google-genai) in
each wire format and boil their final results down to one comparable ``Result``.

Used twice: against the fake provider directly (to prove it speaks each format
as the SDKs expect) and through mitmdump (the end-to-end matrix). Every call
uses the SDK's own accumulator (``.stream()`` helpers, ``get_final_*``), which
raise on an inconsistent stream, so a malformed stream fails the test.
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
from google import genai
from google.genai import types as gtypes

FORMATS = ("openai-chat", "openai-responses", "anthropic", "gemini")

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Current time in a time zone.",
    "parameters": {
        "type": "object",
        "properties": {"tz": {"type": "string"}},
        "required": ["tz"],
    },
}
TOOLS = [WEATHER, TIME]

REAL_HOSTS = {
    "openai-chat": "https://api.openai.com/v1",
    "openai-responses": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


@dataclass
class Result:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tool_ids: list[str] = field(default_factory=list)
    stop: str = ""  # "end" | "tool_use" | "max_tokens" (normalised)
    input_tokens: int | None = None  # OpenAI arithmetic: includes cached
    output_tokens: int | None = None  # includes reasoning
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None  # None where the format cannot say
    reasoning: str = ""
    signature: str | None = None
    turn: list[Any] = field(default_factory=list)  # the model's turn, as a client replays it
    raw: Any = None


@dataclass
class Conn:
    """Where the SDKs send traffic: the fake provider directly, or real hosts via a proxy."""

    base_urls: dict[str, str] = field(default_factory=lambda: dict(REAL_HOSTS))
    proxy: str | None = None
    verify: ssl.SSLContext | bool = True
    api_key: str = "sk-client-secret-0000"
    timeout: float = 20.0
    event_hooks: dict[str, list[Any]] | None = None  # httpx hooks, e.g. to time headers

    def httpx_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"verify": self.verify, "timeout": self.timeout}
        if self.proxy:
            args["proxy"] = self.proxy
        if self.event_hooks:
            args["event_hooks"] = self.event_hooks
        return args

    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _cached(self, name: str, make: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def close(self) -> None:
        """Close the cached SDK clients (their connection pools)."""
        for client in self._cache.values():
            client.close()
        self._cache.clear()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def openai(self, fmt: str = "openai-chat") -> openai.OpenAI:
        return self._cached(fmt, lambda: self._openai(fmt))

    def anthropic(self) -> anthropic.Anthropic:
        return self._cached("anthropic", self._anthropic)

    def gemini(self) -> genai.Client:
        return self._cached("gemini", self._gemini)

    def _openai(self, fmt: str) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_urls[fmt],
            max_retries=0,
            http_client=openai.DefaultHttpxClient(**self.httpx_args()),
        )

    def _anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=self.api_key,
            base_url=self.base_urls["anthropic"],
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(**self.httpx_args()),
        )

    def _gemini(self) -> genai.Client:
        args = self.httpx_args()
        timeout = args.pop("timeout")
        opts = gtypes.HttpOptions(
            base_url=self.base_urls["gemini"].rstrip("/") + "/",
            client_args=args,
            timeout=int(timeout * 1000),
        )
        return genai.Client(api_key=self.api_key, http_options=opts)

    def raw(self) -> httpx.Client:
        return httpx.Client(**self.httpx_args())


# --------------------------------------------------------------------------- calls


def call(conn: Conn, fmt: str, model: str, *, stream: bool, tools: bool = False,
         prompt: str = "What is the weather in Paris?", history: list[Any] | None = None,
         **extra: Any) -> Result:
    """One model call in ``fmt``; ``history`` replaces the prompt with full messages."""
    fn = {"openai-chat": _chat, "openai-responses": _responses,
          "anthropic": _anthropic, "gemini": _gemini}[fmt]
    return fn(conn, model, stream, tools, history or user_turn(fmt, prompt), extra)


def user_turn(fmt: str, prompt: str) -> list[Any]:
    if fmt == "gemini":
        return [{"role": "user", "parts": [{"text": prompt}]}]
    return [{"role": "user", "content": prompt}]


def _chat(conn: Conn, model: str, stream: bool, tools: bool, messages: list[Any],
          extra: dict[str, Any]) -> Result:
    return _chat_call(conn.openai("openai-chat"), model, stream, tools, messages, extra)


def _chat_call(client: openai.OpenAI, model: str, stream: bool, tools: bool,
               messages: list[Any], extra: dict[str, Any]) -> Result:
    kw: dict[str, Any] = {"model": model, "messages": messages, **extra}
    if tools:
        kw["tools"] = [{"type": "function", "function": t} for t in TOOLS]
    if stream:
        reasoning = []
        with client.chat.completions.stream(**kw, stream_options={"include_usage": True}) as s:
            try:
                for event in s:
                    if event.type == "chunk" and event.chunk.choices:
                        delta = event.chunk.choices[0].delta
                        reasoning.append(getattr(delta, "reasoning_content", None) or "")
                done = s.get_final_completion()
            except openai.LengthFinishReasonError as exc:  # the helper's verdict on "length"
                done = exc.completion
        return _chat_result(done, "".join(reasoning))
    done = client.chat.completions.create(**kw)
    return _chat_result(done, getattr(done.choices[0].message, "reasoning_content", None) or "")


def _chat_result(done: Any, reasoning: str) -> Result:
    msg = done.choices[0].message
    calls = msg.tool_calls or []
    turn = {"role": "assistant", "content": msg.content}
    if calls:
        turn["tool_calls"] = [c.model_dump(exclude_none=True) for c in calls]
    stops = {"stop": "end", "tool_calls": "tool_use", "length": "max_tokens"}
    r = Result(
        text=msg.content or "",
        tool_calls=[(c.function.name, json.loads(c.function.arguments)) for c in calls],
        tool_ids=[c.id for c in calls],
        stop=stops.get(done.choices[0].finish_reason, done.choices[0].finish_reason),
        reasoning=reasoning,
        turn=[turn],
        raw=done,
    )
    if done.usage:
        u = done.usage
        r.input_tokens, r.output_tokens = u.prompt_tokens, u.completion_tokens
        r.cached_tokens = u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
        details = u.completion_tokens_details
        r.reasoning_tokens = details.reasoning_tokens if details else 0
    return r


def _responses(conn: Conn, model: str, stream: bool, tools: bool, messages: list[Any],
               extra: dict[str, Any]) -> Result:
    kw: dict[str, Any] = {"model": model, "input": messages, **extra}
    if tools:
        kw["tools"] = [{"type": "function", **t} for t in TOOLS]
    client = conn.openai("openai-responses")
    if stream:
        with client.responses.stream(**kw) as s:
            terminal = None
            for event in s:
                if event.type in ("response.completed", "response.incomplete"):
                    terminal = event
            # The helper insists on response.completed; response.incomplete is the
            # real API's terminal event for max_output_tokens.
            done = s.get_final_response() if terminal and terminal.type.endswith(
                "completed") else getattr(terminal, "response", None)
            if done is None:
                raise RuntimeError("stream ended without response.completed/incomplete")
    else:
        done = client.responses.create(**kw)
    return _responses_result(done)


def _responses_result(done: Any) -> Result:
    r = Result(raw=done, turn=[item.model_dump(exclude_none=True) for item in done.output])
    for item in done.output:
        if item.type == "message":
            r.text += "".join(p.text for p in item.content if p.type == "output_text")
        elif item.type == "function_call":
            r.tool_calls.append((item.name, json.loads(item.arguments)))
            r.tool_ids.append(item.call_id)
        elif item.type == "reasoning":
            r.reasoning += "".join(s.text for s in item.summary or [])
            r.signature = item.encrypted_content
    if done.status == "incomplete":
        r.stop = "max_tokens"
    else:
        r.stop = "tool_use" if r.tool_calls else "end"
    if done.usage:
        u = done.usage
        r.input_tokens, r.output_tokens = u.input_tokens, u.output_tokens
        r.cached_tokens = u.input_tokens_details.cached_tokens
        r.reasoning_tokens = u.output_tokens_details.reasoning_tokens
    return r


def _anthropic(conn: Conn, model: str, stream: bool, tools: bool, messages: list[Any],
               extra: dict[str, Any]) -> Result:
    kw: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 1024, **extra}
    if tools:
        kw["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in TOOLS
        ]
    client = conn.anthropic()
    if stream:
        with client.messages.stream(**kw) as s:
            for _ in s:
                pass
            done = s.get_final_message()
    else:
        done = client.messages.create(**kw)
    return _anthropic_result(done)


def _anthropic_result(done: Any) -> Result:
    r = Result(raw=done, turn=[b.model_dump(exclude_none=True) for b in done.content])
    for block in done.content:
        if block.type == "text":
            r.text += block.text
        elif block.type == "tool_use":
            r.tool_calls.append((block.name, dict(block.input)))
            r.tool_ids.append(block.id)
        elif block.type == "thinking":
            r.reasoning += block.thinking
            r.signature = block.signature
    stops = {"end_turn": "end", "tool_use": "tool_use", "max_tokens": "max_tokens"}
    r.stop = stops.get(done.stop_reason, done.stop_reason)
    u = done.usage
    cached = u.cache_read_input_tokens or 0
    r.input_tokens = u.input_tokens + cached + (u.cache_creation_input_tokens or 0)
    r.output_tokens, r.cached_tokens = u.output_tokens, cached
    return r


def _gemini(conn: Conn, model: str, stream: bool, tools: bool, contents: list[Any],
            extra: dict[str, Any]) -> Result:
    cfg: dict[str, Any] = dict(extra.pop("config", {}))
    if tools:
        decls = [gtypes.FunctionDeclaration(**t) for t in TOOLS]
        cfg["tools"] = [gtypes.Tool(function_declarations=decls)]
        cfg["automatic_function_calling"] = gtypes.AutomaticFunctionCallingConfig(disable=True)
    config = gtypes.GenerateContentConfig(**cfg) if cfg else None
    client = conn.gemini()
    if stream:
        chunks = list(client.models.generate_content_stream(
            model=model, contents=contents, config=config))
    else:
        chunks = [client.models.generate_content(model=model, contents=contents, config=config)]
    return _gemini_result(chunks)


def _merge_part(parts: list[dict[str, Any]], part: Any) -> None:
    """Accumulate streamed parts the way Gemini CLI builds its history: consecutive
    text pieces of the same kind join; a signature stays on the part that bore it."""
    new = part.model_dump(exclude_none=True)
    last = parts[-1] if parts else None
    joinable = (last is not None and "text" in last and "text" in new
                and last.get("thought") == new.get("thought")
                and "thought_signature" not in last)
    if joinable:
        last["text"] += new["text"]
        if "thought_signature" in new:
            last["thought_signature"] = new["thought_signature"]
    elif new.get("text") != "" or "thought_signature" in new:
        parts.append(new)


def _gemini_result(chunks: list[Any]) -> Result:
    r = Result(raw=chunks)
    finish = None
    for chunk in chunks:
        cand = chunk.candidates[0] if chunk.candidates else None
        if cand is None:
            continue
        finish = cand.finish_reason or finish
        for part in (cand.content.parts if cand.content else None) or []:
            _merge_part(r.turn, part)
            if part.function_call:
                r.tool_calls.append((part.function_call.name, dict(part.function_call.args or {})))
                r.tool_ids.append(part.function_call.id or "")
            elif part.thought:
                r.reasoning += part.text or ""
            elif part.text:
                r.text += part.text
            if part.thought_signature:
                r.signature = base64.b64encode(part.thought_signature).decode()
    name = getattr(finish, "value", finish)
    r.stop = {"STOP": "tool_use" if r.tool_calls else "end", "MAX_TOKENS": "max_tokens"}.get(
        name, str(name))
    u = chunks[-1].usage_metadata if chunks else None
    if u:
        thoughts = u.thoughts_token_count or 0
        r.input_tokens = u.prompt_token_count
        r.output_tokens = (u.candidates_token_count or 0) + thoughts
        r.cached_tokens = u.cached_content_token_count or 0
        r.reasoning_tokens = thoughts
    return r


# --------------------------------------------------------------------------- follow-ups


def tool_followup(fmt: str, prompt: str, first: Result, outputs: list[str]) -> list[Any]:
    """The second turn's full history, as a real client builds it: the prompt, the
    model's turn replayed as received (thinking, signatures, calls), one result per call."""
    calls = list(zip(first.tool_ids, first.tool_calls, outputs, strict=True))
    if fmt == "openai-chat":
        return [
            {"role": "user", "content": prompt},
            *first.turn,
            *({"role": "tool", "tool_call_id": cid, "content": out} for cid, _, out in calls),
        ]
    if fmt == "openai-responses":
        return [
            {"role": "user", "content": prompt},
            *first.turn,
            *({"type": "function_call_output", "call_id": cid, "output": out}
              for cid, _, out in calls),
        ]
    if fmt == "anthropic":
        return [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": first.turn},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": cid, "content": out}
                for cid, _, out in calls]},
        ]
    return [
        {"role": "user", "parts": [{"text": prompt}]},
        {"role": "model", "parts": first.turn},
        {"role": "user", "parts": [
            {"function_response": {"name": name, "response": {"output": out},
                                   **({"id": cid} if cid else {})}}
            for cid, (name, _), out in calls]},
    ]
