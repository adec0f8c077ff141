"""How the processes hand memory back: glibc's allocator, told to keep large
blocks out of its heap.

A long request's body (0.1-1 MB) and the copies made of it are large
allocations. glibc serves one over its mmap threshold with its own mapping,
returned to the system when freed; but each such free raises the threshold
(up to 32 MB), so the next bodies land in the heap, where they leave holes
that later small objects pin: resident memory grew with the long requests
served, while Python's own heap stayed flat. A fixed threshold turns that
adjustment off (a mapping costs a few microseconds per body; a body costs
milliseconds anyway), and a few arenas bound what the threads spread out.
Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting value: from here on it stays there."""
TRIM_THRESHOLD = 4 * MMAP_THRESHOLD
ARENA_MAX = 2

_done = False


def bound_allocator() -> bool:
    """Fix glibc's mmap threshold (and its trim threshold, and the arenas);
    True when it did. Once per process; harmless to call again."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt to speak of)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = all(mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (M_ARENA_MAX, ARENA_MAX),
    ))  # fmt: skip
    if not done:
        log.debug("mallopt refused a setting: the allocator keeps its defaults")
    _done = done
    return done
