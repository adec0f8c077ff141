"""``omniroute doctor``: is the set-up ready? One line per check.

Each check is a small function of a :class:`Context` returning
:class:`Result` lines (ok / warning / error, with the fix). The exit code is
0 only when no line is an error. Nothing here spends tokens: providers get
their cheapest call (list models), and only at their configured base_url.
"""

from .base import Context, Result, run

__all__ = ["Context", "Result", "run"]
