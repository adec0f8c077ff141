"""Who is calling: the proxy user mitmproxy's ``proxyauth`` authenticated.

mitmproxy's proxyauth addon checks the credentials (a ``user:password``,
an htpasswd file, LDAP) and leaves ``(user, password)`` in
``flow.metadata["proxyauth"]``, for every request of an authenticated
connection. The front passes the user alone (never the password) to the
engine in ``x-omniroute-user``, beside the engine's secret; every
``x-omniroute-*`` header a client sent is dropped first, so no client can
claim an identity (nor anything else of the front's).
"""

from __future__ import annotations

from urllib.parse import quote

from mitmproxy import http
from omniroute_mitm.engine.core.headers import ENGINE_PREFIX, USER_HEADER


def drop_claims(headers: http.Headers) -> None:
    """Remove every header only the front may send to the engine."""
    for name in [n for n in headers if n.lower().startswith(ENGINE_PREFIX)]:
        del headers[name]


def user(flow: http.HTTPFlow) -> str | None:
    auth = flow.metadata.get("proxyauth")
    if isinstance(auth, tuple) and auth and isinstance(auth[0], str) and auth[0]:
        return auth[0]
    return None


def tell(flow: http.HTTPFlow) -> None:
    """The user, for the engine (percent-encoded: any name fits a header)."""
    name = user(flow)
    if name is not None:
        flow.request.headers[USER_HEADER] = quote(name, safe="")
    else:
        flow.request.headers.pop(USER_HEADER, None)


def shown(flow: http.HTTPFlow) -> str:
    """`` (user alice)`` for the flow's comment; empty without a user."""
    name = user(flow)
    return f" (user {name})" if name is not None else ""
