"""Where the router keeps its state: ``memory`` (this process) or a
Redis-protocol server (Redis, Valkey) shared by several instances.

``omniroute_state`` / ``--state`` / config.yaml ``state:`` take
``memory`` or ``redis://[user:password@]host[:port][/db]`` (``rediss://``
for TLS, ``unix:///path/to/socket``), with two optional query parameters of
our own: ``prefix`` (default ``omniroute:``) put before every key, and
``timeout`` (seconds, default 0.1): how long a request waits for the shared
state before going on with this instance's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MEMORY = "memory"
STATE_ENV = "OMNIROUTE_STATE"
"""The engine's ``--state`` when not given (how a front hands it to its engine
child: a URL with a password stays out of the process list)."""
SCHEMES = ("redis", "rediss", "valkey", "valkeys", "unix")
DEFAULT_PREFIX = "omniroute:"
DEFAULT_TIMEOUT = 0.1


@dataclass(frozen=True, slots=True)
class StateURL:
    url: str
    """For the client library (our own parameters taken out; valkey -> redis)."""
    prefix: str = DEFAULT_PREFIX
    timeout: float = DEFAULT_TIMEOUT

    @property
    def shown(self) -> str:
        """The URL without its password (for logs)."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))


def parse_state_url(text: str | None) -> StateURL | None:
    """None for ``memory`` (or empty); ValueError saying what is wrong."""
    text = (text or "").strip()
    if not text or text.lower() == MEMORY:
        return None
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"{_hidden(text)!r}: want memory or redis://HOST:PORT/DB")
    if scheme != "unix" and not parts.hostname:
        raise ValueError(f"{_hidden(text)!r}: no host (want redis://HOST:PORT/DB)")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"{_hidden(text)!r}: the port is not a number 1-65535") from None
    db = parts.path.strip("/")
    if scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"{_hidden(text)!r}: the database {db!r} is not a number")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    prefix = query.pop("prefix", DEFAULT_PREFIX)
    timeout = _timeout(query.pop("timeout", None), text)
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme)
    url = urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))
    return StateURL(url, prefix, timeout)


def _timeout(raw: str | None, text: str) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 60:
        raise ValueError(f"{_hidden(text)!r}: timeout={raw!r} is not seconds in (0, 60]")
    return value


def _hidden(text: str) -> str:
    parts = urlsplit(text)
    try:
        password = parts.password
    except ValueError:
        password = None
    return text.replace(f":{password}@", ":***@") if password else text
