"""The engine: a request's way from the client's format to a provider and back.

Laid out by the stages a request goes through; each subpackage's
``__init__`` says what the others may use. A package imports only from the
ones before it in this list (checked in CI by import-linter, ``.importlinter``):

- :mod:`.core`: errors, the config, the front/engine header contract, which
  call a request is, the per-request record, prices and context windows,
  rate-limit headers, the SQLite store, file locations, the start-up summary.
- :mod:`.route`: the router: plans, strategies, health (cooldowns, breakers),
  its state store, failure classes, session affinity.
- :mod:`.translate`: a request shaped for its target, thinking across
  providers, Gemini CLI's Code Assist envelope, Responses API state.
- :mod:`.stream`: the client's reply, the hold-back of a stream's opening,
  usage read off native answers.
- :mod:`.record`: the usage log, the request log and its redaction, reports.
- :mod:`.execute`: attempts against providers and native endpoints, the
  upstream client, the lean HTTP/1.1 transport, header forwarding.
- :mod:`.serve`: the HTTP server, one exchange (the fallback loop), the
  engine's own answers, the shared runtime, pages, dashboard, config watch.
- :mod:`.ops`: ``omniroute`` (doctor, init, ca, run) and ``omniroute-usage``.

This module imports nothing: the front imports :mod:`.core` without loading
the rest. ``python -m omniroute_mitm.engine`` runs the engine on its own.
"""
