"""omniroute-mitm: AI clients' native API traffic, routed anywhere.

The distribution's one import name. Its packages, lowest first:

- :mod:`omniroute_mitm.translators`: the four wire formats and the canonical
  model between them (pure: no I/O).
- :mod:`omniroute_mitm.engine`: the engine, laid out by the stages a request
  goes through (core, route, translate, stream, record, execute, serve, ops).
- :mod:`omniroute_mitm.front`: the mitmproxy addon (it imports only the
  engine's core; the engine runs in a child process).

In a checkout this folder (``addons/``) is the package; ``translators/`` is
mapped in as its subpackage (see ``setup.py``).
"""

__version__ = "0.2.0"
