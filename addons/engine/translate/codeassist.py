"""Gemini CLI's Code Assist envelope.

Gemini CLI logged in with Google calls cloudcode-pa.googleapis.com/v1internal
with each Gemini request wrapped as ``{model, project, user_prompt_id,
request}`` and expects each answer (every SSE event) as ``{"response": ...}``:
:func:`unwrap_code_assist` and :class:`CodeAssistStream` translate between
that and the plain Gemini API, so it can be routed like any Gemini call.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from omniroute_mitm.engine.core.calls import Call
from omniroute_mitm.engine.core.errors import BadRequest
from omniroute_mitm.translators import ErrorInfo, StreamTranslator

# (host, method, path without query as a full-match regex) -> answer.
# None as the answer: a 404 in the host's error shape, which is what the
# client treats as "nothing configured" (Claude Code retries `{}` up to 5
# times on settings and policy limits: it fails their format check).


# --------------------------------------------------------- Code Assist envelope

# Fields of Code Assist's inner request that the Gemini API rejects.
_CODE_ASSIST_ONLY = ("session_id", "model")


def unwrap_code_assist(call: Call, body: dict[str, Any]) -> tuple[Call, dict[str, Any]]:
    """``{model, project, request}`` -> the call with its model, and the plain
    Gemini request. countTokens names the model inside: ``models/<name>``."""
    inner = body.get("request")
    if not isinstance(inner, dict):
        raise BadRequest("a Code Assist request needs a 'request' object")
    model = body.get("model") if call.kind == "generate" else inner.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("a Code Assist request needs a 'model'")
    plain = {k: v for k, v in inner.items() if k not in _CODE_ASSIST_ONLY}
    return replace(call, model=model.removeprefix("models/"), envelope=None), plain


def wrap_code_assist(body: bytes) -> bytes:
    """A Gemini response (or SSE event data) as Code Assist sends it.
    Errors keep their shape: Gemini CLI reads them as Google API errors."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body
    if not isinstance(obj, dict) or "error" in obj:
        return body
    wrapped: dict[str, Any] = {"response": obj}
    if isinstance(obj.get("responseId"), str):
        wrapped["traceId"] = obj["responseId"]
    return json.dumps(wrapped, separators=(",", ":"), ensure_ascii=False).encode()


class CodeAssistStream(StreamTranslator):
    """A stream translator for a Code Assist client: each SSE event's data is
    wrapped as ``{"response": ...}``. Lines are buffered, since a same-format
    stream passes provider bytes on with arbitrary boundaries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        return self._wrap(super().feed(chunk))

    def finish(self) -> bytes:
        return self._wrap(super().finish(), final=True)

    def fail(self, error: ErrorInfo) -> bytes:
        return self._wrap(super().fail(error), final=True)

    def _wrap(self, data: bytes, final: bool = False) -> bytes:
        lines = (self._partial + data).split(b"\n")
        self._partial = b"" if final else lines.pop()
        out = []
        for line in lines:
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                end = b"\r" if line.endswith(b"\r") else b""
                line = b"data: " + wrap_code_assist(payload) + end
            out.append(line)
        if not out:
            return b""
        return b"\n".join(out) + (b"" if final else b"\n")
