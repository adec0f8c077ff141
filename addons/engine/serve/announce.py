"""Lines an engine child writes on its stdout for the front (its parent,
which reads every line): the call it begins to route, and what a call it
finished did. Only for calls the front named (``CALL_HEADER``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

from omniroute_mitm.engine.core.headers import RECORD_LINE, ROUTING_LINE

CALL_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
"""What the front's call id may be (it is echoed on stdout)."""


def routing(call_id: str | None) -> None:
    """Tell the front that the call it named ``call_id`` is about to be
    routed: from now on it may reach a provider. One write of one line,
    before anything is sent upstream; a front that sees this child die reads
    its output to the end first (see CALL_HEADER)."""
    if call_id is not None and CALL_ID.fullmatch(call_id):
        _write(f"{ROUTING_LINE}{call_id}\n")


def record(call_id: str | None, public: dict[str, Any]) -> None:
    """What call ``call_id`` did (its record as the records page shows it:
    route, tokens, cost; no key, no body), once it ended, for the flow's
    comment: the front does not have to ask for it over HTTP."""
    if call_id is not None and CALL_ID.fullmatch(call_id):
        _write(f"{RECORD_LINE}{call_id} {json.dumps(public, separators=(',', ':'))}\n")


def _write(line: str) -> None:
    with contextlib.suppress(OSError):  # no front reads us any more: it is gone, we stop soon
        os.write(1, line.encode())
