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
Codex sends ``web_search`` with every turn, beside its own tools, whether
or not the turn needs it) is not refused when no backend is configured:
refusing would fail every turn of the session. Such a target gets the
request without the search (the model does not have it, so no search is
shown that never ran), and the engine's log says so once.
"""

from __future__ import annotations

import logging

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.translators import web
from omniroute_mitm.translators.canonical import WEB_FETCH, WEB_SEARCH, FormatName

from .plan import Attempt

log = logging.getLogger(__name__)


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
    # what the engine runs itself for any target: a fetch always, a search with a backend;
    # a search only offered, with no backend, goes without the tool
    engine = {WEB_FETCH} | ({WEB_SEARCH} if settings.backend is not None else set())
    if offered and settings.backend is None:
        engine.add(WEB_SEARCH)
        _say_dropped_once(client)
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


_SAID: set[str] = set()


def _say_dropped_once(client: FormatName) -> None:
    if client in _SAID:
        return
    _SAID.add(client)
    log.info(
        "the %s tool %s clients offer beside their own tools goes without it to targets "
        "that cannot run it (no web_search.backend in config.yaml to run it in the engine)",
        web.client_name(client, WEB_SEARCH),
        client,
    )


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
