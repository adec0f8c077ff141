"""Which targets a request tries, in which order, and what each outcome
teaches. Public: ``router.Router`` (decide, then succeeded/failed/ended),
``router.Decision``/``RouteRequest``, ``plan.Attempt``, ``failures.classify``
(the class of a failed attempt), ``affinity.conversation_id``. ``health``,
``strategies`` and ``state`` are the router's own."""
