"""Which route a model call takes, and the attempts it gets.

Routes are tried in order; the first whose ``match`` fits wins. A model
that names a combo or ``provider/model`` directly (a client told to use
``--model smart``) is routed there when no route matched. Everything else
goes ``native``: the client's own destination with its own credentials.

:func:`plan` is the pure mapping from the config; :class:`engine.routing.Router`
orders it by strategy and health.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from omniroute_mitm.engine.core.config import NATIVE, Config, Match, Provider, split_target
from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: a provider account and model, or native (provider None)."""

    provider_name: str | None = None
    provider: Provider | None = None
    model: str | None = None
    key: SecretStr | None = None
    account: int = 0

    @property
    def native(self) -> bool:
        return self.provider is None

    @property
    def target(self) -> str:
        """provider/model, or native."""
        return NATIVE if self.native else f"{self.provider_name}/{self.model}"

    @property
    def key_id(self) -> str:
        """provider#n: names a key without showing it (native: native)."""
        return NATIVE if self.native else f"{self.provider_name}#{self.account + 1}"

    @property
    def label(self) -> str:
        if self.native:
            return NATIVE
        suffix = f"#{self.account + 1}" if self.account else ""
        return f"{self.provider_name}/{self.model}{suffix}"


NATIVE_ATTEMPT = Attempt()


@dataclass(frozen=True, slots=True)
class Plan:
    target: str
    """What the route named: a combo, provider/model or native."""
    attempts: tuple[Attempt, ...]


def matches(match: Match, client: str, model: str, host: str | None) -> bool:
    if match.client is not None and match.client != client:
        return False
    if match.model is not None and not fnmatchcase(model, match.model):
        return False
    if match.host is not None:
        return host is not None and fnmatchcase(host.lower(), match.host.lower())
    return True


def route_target(config: Config, client: str, model: str, host: str | None = None) -> str:
    """What the route names for a call from a ``client`` format asking for
    ``model`` on ``host`` (None when the engine is called directly)."""
    for route in config.routes:
        if matches(route.match, client, model, host):
            return route.to
    if model in config.combos or _is_provider_model(config, model):
        return model
    return NATIVE


def plan(config: Config, client: str, model: str, host: str | None = None) -> Plan:
    """The attempts in config order (priority), every key of every target."""
    target = route_target(config, client, model, host)
    return Plan(target, expand(config, target))


def expand(config: Config, target: str) -> tuple[Attempt, ...]:
    """A combo, provider/model or native -> attempts; one per key (account)."""
    if target in config.combos:
        return tuple(a for t in config.combos[target].names for a in expand(config, t))
    parts = split_target(target)
    if target == NATIVE or parts is None or parts[0] not in config.providers:
        # A provider disabled for a missing key variable is skipped.
        return (NATIVE_ATTEMPT,) if target == NATIVE else ()
    name, model = parts
    provider = config.providers[name]
    keys: list[SecretStr | None] = list(provider.keys) or [None]
    return tuple(Attempt(name, provider, model, key, i) for i, key in enumerate(keys))


def _is_provider_model(config: Config, model: str) -> bool:
    parts = split_target(model)
    if parts is None or parts[0] not in config.providers:
        return False
    allowed = config.providers[parts[0]].models
    return bool(parts[1]) and (allowed is None or parts[1] in allowed)
