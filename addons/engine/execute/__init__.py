"""Calls that leave the engine. Public: ``attempts`` (``Job``,
``ProviderRun``, ``NativeRun``, ``fetch``), ``upstream.Upstream`` (URLs, auth,
the pooled client), ``forwarding`` (headers to and from a native
destination). ``wire`` is the upstream client's own HTTP/1.1 transport."""
