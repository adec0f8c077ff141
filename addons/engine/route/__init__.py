"""Which targets a request tries, in which order, and what each outcome
teaches. Public: ``router.Router`` (decide, then succeeded/failed/ended),
``router.Decision``/``RouteRequest``, ``plan.Attempt``, ``failures.classify``
(the class of a failed attempt), ``affinity.conversation_id``, ``policy``
(proxy users' allow/deny lists, budgets and rate limits: ``member``,
``Policy.admit``/``settle``; the router holds one, on its state store). ``health``,
``strategies`` and ``state`` are the router's own."""
