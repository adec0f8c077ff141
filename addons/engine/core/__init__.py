"""What every stage shares. Public modules: ``errors`` (the one exception
hierarchy), ``config`` (config.yaml, validated), ``team`` (its ``users:`` and
``groups:``), ``headers`` (the front/engine
header contract), ``calls`` (which native call a request is; body decoding),
``endpoints`` (the endpoint catalog: hosts, paths, formats, the CA's names),
``inbound`` (the request as received, the response sink), ``records`` (what
each request did), ``prices`` (prices, context windows, token kinds),
``quota`` (rate-limit and Retry-After headers), ``database`` (the store:
SQLite, or PostgreSQL through ``pgstore`` with ``pgsql``, ``sqldialect`` and
``spool`` behind it), ``paths`` (where files live), ``private`` (files and folders only the
user may read), ``summary`` (start-up lines), ``trust``
(facts about the CA). The front may import this package and nothing else of
the engine."""
