"""The engine as a server. Public: ``server.Engine`` (start, stop,
set_config, watch), ``embedded.embedded_engine`` (the front's inprocess
mode). ``exchange`` (one request: the fallback loop), ``local`` (what the
engine answers itself), ``runtime``, ``pages``, ``dashboard``, ``status`` and
``confwatch`` are the server's own."""
