"""Helpers for the Gemini format tests: google-genai as the judge.

The SDK gets its bytes through ``httpx.MockTransport`` (split into the given
pieces, so its own line decoder sees awkward boundaries too); nothing touches
the network.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import streamkit
from google import genai
from google.genai import errors as gerrors
from google.genai import types as gtypes
from omniroute_mitm.translators.canonical import Env, StreamEvent
from omniroute_mitm.translators.gemini import FORMAT
from shared_fixtures import FIXTURES as SHARED
from streamkit import accumulate as accumulate
from streamkit import cut

FIXTURES = SHARED / "gemini"
APIError = gerrors.APIError


def fixture(name: str) -> bytes:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures not present")
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


def stream_fixture_names() -> list[str]:
    if not FIXTURES.is_dir():
        return ["absent"]
    return sorted(p.name for p in FIXTURES.glob("stream-*"))


_REPLY: dict[str, Any] = {"content": b"", "status": 200, "piece": 0}
_CLIENT: list[genai.Client] = []


def _handler(request: httpx.Request) -> httpx.Response:
    content, status, piece = _REPLY["content"], _REPLY["status"], _REPLY["piece"]
    ctype = "text/event-stream" if status == 200 else "application/json"
    if piece:
        chunks = [content[i : i + piece] for i in range(0, len(content), piece)]
        return httpx.Response(status, headers={"content-type": ctype}, content=iter(chunks))
    return httpx.Response(status, headers={"content-type": ctype}, content=content)


def client(content: bytes, *, status: int = 200, piece: int = 0) -> genai.Client:
    """A client whose next request gets ``content`` (in ``piece``-byte reads).
    One client is shared: building one costs the SDK half a second."""
    _REPLY.update(content=content, status=status, piece=piece)
    if not _CLIENT:
        options = gtypes.HttpOptions(
            base_url="http://127.0.0.1:9",
            httpx_client=httpx.Client(transport=httpx.MockTransport(_handler)),
        )
        _CLIENT.append(genai.Client(api_key="test-key", http_options=options))
    return _CLIENT[0]


def sdk_chunks(content: bytes, piece: int = 0) -> list[gtypes.GenerateContentResponse]:
    sdk = client(content, piece=piece)
    return list(sdk.models.generate_content_stream(model="m", contents="hi"))


def sdk_view(chunks: list[gtypes.GenerateContentResponse]) -> dict[str, Any]:
    """What a google-genai user sees of a response (streamed or not)."""
    view: dict[str, Any] = {"text": "", "thoughts": "", "calls": [], "finish": None, "usage": None}
    for chunk in chunks:
        for cand in chunk.candidates or []:
            for part in (cand.content.parts if cand.content else None) or []:
                if part.function_call:
                    call = part.function_call
                    view["calls"].append((call.id, call.name, call.args or {}))
                elif part.thought:
                    view["thoughts"] += part.text or ""
                else:
                    view["text"] += part.text or ""
            if cand.finish_reason:
                view["finish"] = cand.finish_reason.value
        if chunk.usage_metadata is not None:
            u = chunk.usage_metadata
            view["usage"] = (
                u.prompt_token_count,
                u.candidates_token_count,
                u.thoughts_token_count,
                u.cached_content_token_count,
            )
    return view


def decode(
    data: bytes, splits: list[int] | None = None, env: Env | None = None
) -> list[StreamEvent]:
    return streamkit.decode(FORMAT, cut(data, splits), env)


def encode(events: list[StreamEvent], *, sse: bool = True, model: str = "gemini-test") -> bytes:
    return streamkit.encode(FORMAT, events, model=model, input_tokens=7, sse=sse)


def sdk_validate_request(body: dict[str, Any]) -> None:
    """Each piece of a rendered request body through google-genai's own
    models (``extra="forbid"``): a key Gemini does not know fails here."""
    allowed = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    assert set(body) <= allowed | {"safetySettings"}
    for content in body["contents"]:
        gtypes.Content.model_validate(content)
        assert content["role"] in ("user", "model")
        assert content["parts"], "Gemini rejects a turn without parts"
    roles = [c["role"] for c in body["contents"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "roles must alternate"
    if "systemInstruction" in body:
        gtypes.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", []):
        gtypes.Tool.model_validate(tool)
    if "toolConfig" in body:
        gtypes.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        gtypes.GenerationConfig.model_validate(body["generationConfig"])
    for setting in body.get("safetySettings", []):
        gtypes.SafetySetting.model_validate(setting)
