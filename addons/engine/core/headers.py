"""The headers between the front and the engine (a module of constants, so
the front can name them without importing the engine's server)."""

FRONT_PORT_ENV = "OMNIROUTE_FRONT_PORT"
"""Set by the front in its environment (the engine child inherits it): the port
it listens on, which the engine never takes as its own upstream proxy."""

ENGINE_PREFIX = "x-omniroute-"
"""Every header between the front and the engine starts so (none is left on a
flow once it is answered: saved flows show what the client called)."""
SECRET_HEADER = "x-omniroute-secret"
"""The engine's per-run secret, on every request from the front."""
ORIGINAL_URL_HEADER = "x-omniroute-original-url"
"""The URL the client called (for native calls and the log)."""
ROUTE_HEADER = "x-omniroute-route"
"""On responses: ``model -> provider/model (fallback from ...)``."""
RECORD_HEADER = "x-omniroute-id"
"""On responses: the id of the request's record (the flow comment reads it)."""
USER_HEADER = "x-omniroute-user"
"""The proxy user mitmproxy's ``proxyauth`` authenticated (never the
password); the engine takes it only with the secret, and the front drops
every ``x-omniroute-*`` header a client sent."""
MAX_BODY_HEADER = "x-omniroute-max-body"
"""On a request the front streams (its body is over ``omniroute_max_body``, or
chunked): the front's body limit in bytes, which the engine enforces."""
CALL_HEADER = "x-omniroute-call"
"""On a model call to an engine child: the front's id of the call. Before the
call can reach any provider, the engine writes :data:`ROUTING_LINE` and that
id on its stdout; the front reads a dead child's output to its end before it
judges a call the child left unanswered, so it knows whether the call may be
sent again to the restarted engine (never one that may have reached a provider)."""
ROUTING_LINE = "omniroute routing "
BODY_AT_HEADER = "x-omniroute-body-at"
"""On a model call to an engine child with an empty body: ``offset,length``
of the body in the shared memory both were given at the child's start
(:mod:`.arena`); the engine takes it only with the secret."""
RECORD_LINE = "omniroute record "
"""An engine child's stdout: a call the front named (CALL_HEADER) ended; then
its id and its record's JSON (the records page's), on one line."""
