"""The mitmproxy front: decrypts only the AI hosts (the endpoint catalog's, that
the CA covers), sends their model calls to the engine, annotates the flows.

Public: :class:`OmniRoute` (the addon ``addons/omniroute.py`` exports).
The front imports only the engine's :mod:`~omniroute_mitm.engine.core`
(and, in ``inprocess`` mode only, its server): a front whose engine runs as
a child process never loads tornado, httpx or the router.
"""

from .addon import OmniRoute

__all__ = ["OmniRoute"]
