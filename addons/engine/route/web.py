"""Which attempts can serve a request that carries server-side web tools.

A client's ``web_search``/``web_fetch`` tool is honoured, never silently
dropped: an attempt is kept when its provider runs the tool itself (the
target format has the equivalent, or is the client's own format: see
:mod:`omniroute_mitm.translators.web`) or when the engine runs it
(execute.webtools: a fetch always, a search when ``web_search.backend``
is configured, or, without one, when the search is only offered beside
the client's own tools: see below). The others are skipped, as
context-fit skips targets too small; when none is left the client gets an
error naming the tool and the config keys. ``web_search: {unsupported:
drop}`` keeps the old behaviour (the tool is dropped, the model answers
without it).

A search only offered (:func:`omniroute_mitm.translators.web.offered`:
Codex sends ``web_search`` with every turn) is not refused when no backend
is configured: refusing would fail every turn of the session. The engine
runs it as it runs any search, and a call of it gets a failed search that
says why (``web_search.backend`` is not set), which the model and the
client see; nothing pretends to have searched.
"""

from __future__ import annotations

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.translators import web
from omniroute_mitm.translators.canonical import WEB_FETCH, WEB_SEARCH, FormatName

from .plan import Attempt


def attempt_format(attempt: Attempt, client: FormatName) -> FormatName:
    return client if attempt.provider is None else attempt.provider.format


def filter_attempts(
    config: Config,
    client: FormatName,
    tools: frozenset[str],
    attempts: list[Attempt],
    offered: bool = False,
) -> tuple[list[Attempt], list[str]]:
    """The attempts that can honour ``tools`` and ``label: why`` of the rest.
    Raises a 400 :class:`EngineError` when none can. ``offered``: the tools
    are only offered beside the client's own (the engine answers a search
    without a backend with a failed search)."""
    settings = config.web_search
    if not tools or settings.unsupported == "drop":
        return attempts, []
    # what the engine runs itself for any target: a fetch always, a search with a
    # backend (or, only offered, without one: each call is a failed search saying why)
    engine = {WEB_FETCH} | ({WEB_SEARCH} if settings.backend is not None or offered else set())
    kept: list[Attempt] = []
    skipped: list[str] = []
    for attempt in attempts:
        fmt = attempt_format(attempt, client)
        missing = sorted(t for t in tools if not web.honours(fmt, client, t) and t not in engine)
        if missing:
            skipped.append(f"{attempt.label}: {fmt} cannot run {', '.join(missing)}")
        else:
            kept.append(attempt)
    if not kept and attempts:
        raise EngineError(400, refusal(client, tools, attempts), "invalid_request")
    return kept, skipped


def refusal(client: FormatName, tools: frozenset[str], attempts: list[Attempt]) -> str:
    names = " and ".join(web.client_name(client, t) for t in sorted(tools))
    targets = ", ".join(sorted({a.target for a in attempts}))
    return (
        f"the {names} tool needs a target whose provider runs it, and none of the "
        f"targets this request was routed to can ({targets}). Route it to such a target "
        "(anthropic, openai-responses or gemini format), configure a search backend "
        "(web_search: {backend: ...} in config.yaml), or set "
        "web_search: {unsupported: drop} to send it without the tool"
    )
