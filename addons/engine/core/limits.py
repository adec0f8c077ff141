"""Size limits shared by the front and the engine, and the sizes users write.

- ``MAX_BODY``: the engine's own request body limit (``--max-body``).
- ``FRONT_MAX_BODY``: the front's (``omniroute_max_body``); a model call over it
  is streamed to the engine, never held whole by mitmdump, and refused there.
- ``BODY_MEMORY``: the request bodies the engine holds at once (``--body-memory``,
  ``omniroute_body_memory``); a body that does not fit gets a 429.
- ``MAX_HEADER_BLOCK``: a request whose header block is over it gets a 431 from
  the front (the engine's server takes twice that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MIB = 1024 * 1024
MAX_BODY = 64 * MIB
FRONT_MAX_BODY = 32 * MIB
BODY_MEMORY = 256 * MIB
MAX_HEADER_BLOCK = 64 * 1024

HEADERS_TOO_LONG = f"omniroute: the request's headers are over {MAX_HEADER_BLOCK // 1024} KiB"

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}


def parse_size(text: str | int) -> int:
    """``32m``, ``512k``, ``1g`` or a number of bytes (binary units)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(f"not a size: {text!r} (want e.g. 32m, 512k, or bytes)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def shown(size: int) -> str:
    """A size for a message: ``32 MiB``, ``1.5 MiB``, ``64 KiB``, ``800 bytes``."""
    if size < 1024:
        return f"{size} bytes"
    unit, name = (MIB, "MiB") if size >= MIB else (1024, "KiB")
    return f"{size / unit:.1f}".removesuffix(".0") + " " + name


def header_block(method: str, path: str, headers: Iterable[tuple[Any, Any]]) -> int:
    """The size of a request's head (request line and headers) as the client
    sent it: the front's own ``x-omniroute-*`` headers are not counted, so the
    front and the engine measure the same."""
    size = len(method) + len(path) + 12
    for name, value in headers:
        if not _ours(name):
            size += len(name) + len(value) + 4
    return size


def _ours(name: str | bytes) -> bool:
    if isinstance(name, bytes):
        return name.lower().startswith(b"x-omniroute-")
    return name.lower().startswith("x-omniroute-")
