"""config.yaml: the user-facing contract, validated into frozen pydantic models.

Every problem becomes one line ``config.yaml: <dotted.path>: <message>``;
:class:`ConfigError` carries all of them. Keys are ``SecretStr`` and headers
are left out of ``repr``, so printing a config never shows a secret.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from .stateurl import MEMORY, parse_state_url
from .team import Group, Limits, User
from .team import problems as team_problems

FormatName = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
NATIVE = "native"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """An invalid config; ``lines`` has one line per problem."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceOverride(_Model):
    """US dollars per million tokens of each class (usage cost; see engine.prices).
    Cache reads and writes default to the input rate, one-hour cache writes
    (Anthropic) to the cache write rate, reasoning to output."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    reasoning: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)
    search: float | None = Field(default=None, ge=0)
    """US dollars per 1,000 server-side web searches."""


class Provider(_Model):
    format: FormatName
    base_url: str
    keys: list[SecretStr] = Field(default_factory=list)
    """Several keys are several accounts. No key: no auth header."""
    key_strategy: Literal["fill-first", "round-robin"] = "fill-first"
    """fill-first: the first healthy key; round-robin: rotate per request."""
    context_window: int | None = Field(default=None, gt=0)
    """Tokens; per-target ``context_window`` in a combo overrides it."""
    cost: float | None = Field(default=None, ge=0)
    """Price per million tokens, for the ``cost`` strategy."""
    models: list[str] | None = None
    """Optional allow-list; targets naming another model are rejected."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for the first byte (and between chunks)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict, repr=False)
    max_tokens: int | None = Field(default=None, gt=0)
    """Cap on the output tokens asked of this provider (Claude Code asks for
    64000; many providers refuse more than 8192)."""
    price: PriceOverride | None = None
    """The usage cost of every model of this provider (else LiteLLM's data)."""
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    """Per model; wins over ``price``."""
    continue_: Literal["prefix", "instruction"] | None = Field(default=None, alias="continue")
    """How a broken stream's continuation gives this provider the partial
    answer: ``prefix`` (an OpenAI Chat server that takes ``"prefix": true`` on
    a last assistant message, as DeepSeek and Mistral do) or ``instruction``.
    None: by its host (engine.core.endpoints.continuation)."""

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value) and not _ENV_VAR.search(value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


Strategy = Literal[
    "priority",
    "weighted",
    "round-robin",
    "random",
    "strict-random",
    "least-used",
    "fill-first",
    "p2c",
    "cost",
    "latency",
    "lkgp",
    "context-fit",
]
STICKY_BY_DEFAULT = frozenset({"round-robin", "random", "weighted", "p2c"})


class Target(_Model):
    """A combo target written as a mapping: ``{to: provider/model, weight: 3}``."""

    to: str
    weight: float = Field(default=1.0, gt=0)
    cost: float | None = Field(default=None, ge=0)
    """Price per million tokens (input and output together), for ``cost``."""
    context_window: int | None = Field(default=None, gt=0)
    """Tokens, for ``context-fit`` and context-too-long fallbacks."""


class Combo(_Model):
    strategy: Strategy = "priority"
    targets: list[str | Target] = Field(min_length=1)
    affinity: Literal["session", "none"] | None = None
    """None: session for round-robin, random, weighted and p2c."""

    @property
    def entries(self) -> list[Target]:
        return [Target(to=t) if isinstance(t, str) else t for t in self.targets]

    @property
    def names(self) -> list[str]:
        return [t.to for t in self.entries]

    @property
    def sticky(self) -> bool:
        if self.affinity is None:
            return self.strategy in STICKY_BY_DEFAULT
        return self.affinity == "session"


class Resilience(_Model):
    """How failures are remembered; the defaults need no tuning."""

    max_attempts: int = Field(default=8, ge=1)
    """Attempts per request, all targets and keys together."""
    max_wait: float = Field(default=3.0, ge=0)
    """Seconds a request may wait, all together, for a cooldown that ends soon
    when every target left is cooling down."""
    rate_limit_cooldown: float = Field(default=2.0, gt=0)
    """First cooldown of a key after a 429 without Retry-After; doubles each time."""
    rate_limit_max: float = Field(default=300.0, gt=0)
    auth_cooldown: float = Field(default=600.0, gt=0)
    model_lockout: float = Field(default=300.0, gt=0)
    backoff: float = Field(default=1.0, gt=0)
    """First backoff after a transient failure (5xx, timeout); doubles each time."""
    backoff_max: float = Field(default=60.0, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    """Transient failures within ``breaker_window`` that open a target's breaker."""
    breaker_window: float = Field(default=60.0, gt=0)
    breaker_reset: float = Field(default=30.0, gt=0)
    """Seconds an open breaker waits before one probe request."""
    quota_threshold: float = Field(default=0.95, gt=0, le=1)
    """Used fraction of a key's window past which it goes to the end of the order."""
    affinity_ttl: float = Field(default=3600.0, gt=0)
    continue_: bool = Field(default=True, alias="continue")
    """A stream that breaks after content reached the client (a dropped
    connection, a stall, a cut body, an overloaded or server error event) is
    continued: asked again with what the client got as the assistant's
    partial turn, the continuation spliced into the client's open stream."""
    max_continuations: int = Field(default=1, ge=0)
    """Continuations per request."""
    stall_timeout: float | None = Field(default=None, gt=0)
    """Seconds without a byte from a stream that has sent content after
    which it counts as broken (None: the provider's read timeout)."""


class Match(_Model):
    client: FormatName | None = None
    """The wire format the client spoke."""
    model: str | None = None
    """A glob (fnmatch) on the model the client asked for."""
    host: str | None = None
    """A glob on the host the client called (api.anthropic.com, ...)."""


class Route(_Model):
    match: Match = Field(default_factory=Match)
    to: str


class ResponsesStore(_Model):
    """Limits of the Responses API state the engine keeps (engine.history)."""

    max_age_days: float = Field(default=30, gt=0)
    """A stored response unused for this long is dropped."""
    max_mb: float = Field(default=256, gt=0)
    """Above this total, the least recently used responses are dropped."""


class Security(_Model):
    """Who may have calls routed besides local programs (engine.core.access)."""

    allowed_origins: list[str] = Field(default_factory=list)
    """Web origins (``https://app.example``) whose pages may call through the
    proxy; any other page's call (an Origin header, or Sec-Fetch-Site
    cross-site/same-site) is refused with a 403."""

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin.strip())  # https://app.example, vscode-webview://id
            if not parts.scheme or not parts.hostname or parts.path.strip("/") or parts.query:
                raise ValueError(f"{origin!r} is no origin (want scheme://host[:port])")
        return value


class WebSearchConfig(_Model):
    """Clients' server-side web tools (web_search, web_fetch): routed to
    targets that run them (route.web), else run by the engine
    (execute.webtools) with the search backend named here (off until
    ``backend`` is set)."""

    backend: Literal["searxng", "brave"] | None = None
    url: str | None = None
    """SearXNG: the instance (``http://127.0.0.1:8888``; its settings must
    allow the ``json`` format). Brave: another base URL than the API's."""
    api_key_env: str | None = None
    """Brave: the environment variable holding the API key (never the key)."""
    max_results: int = Field(default=8, ge=1, le=20)
    """Results per search handed to the model."""
    timeout: float = Field(default=15.0, gt=0)
    """Seconds a search may take."""
    unsupported: Literal["error", "drop"] = "error"
    """A web tool no target can run (no backend, no target of its own):
    ``error`` refuses the request in the client's format naming the tool;
    ``drop`` sends it without the tool (the model answers without it)."""
    _api_key: SecretStr | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"expected the name of an environment variable, got {value!r}")
        return value

    @property
    def api_key(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key is not None else None

    def problems(self, env: Mapping[str, str]) -> list[str]:
        """What keeps the backend from working; resolves the key."""
        if self.backend == "searxng" and not self.url:
            return ["web_search.url: the SearXNG instance's URL is required"]
        if self.backend == "brave":
            if not self.api_key_env:
                return ["web_search.api_key_env: name the variable that holds the Brave key"]
            if not env.get(self.api_key_env):
                return [f"web_search.api_key_env: {env_problem(self.api_key_env, env)}"]
            self._api_key = SecretStr(env[self.api_key_env])
        return []


_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")


class EndpointEntry(_Model):
    """A host and its model-call paths in one client format, intercepted like
    the shipped catalog's (engine.core.endpoints)."""

    host: str
    """The host name alone (no scheme, port or path), e.g. llm.example.com."""
    paths: list[str] = Field(min_length=1)
    """Full paths of the POST model calls, e.g. /v1/chat/completions."""
    format: Literal["openai-chat", "openai-responses", "anthropic"]
    key: Literal["bearer", "x-api-key", "api-key", "x-goog-api-key"] = "bearer"
    """How the client sends its own key there (Authorization: Bearer, or a header)."""
    vendor: str | None = None
    """The name usage shows as the client's endpoint (default: the host)."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip().lower().rstrip(".")
        if not _HOST.match(host):
            raise ValueError(
                f"expected a host name such as llm.example.com (no scheme, port "
                f"or path), got {value!r}"
            )
        return host

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        out = []
        for path in value:
            if not path.startswith("/") or "?" in path or " " in path:
                raise ValueError(f"each path starts with / and has no query, got {path!r}")
            out.append(path.rstrip("/") or "/")
        return out


class Config(_Model):
    providers: dict[str, Provider] = Field(default_factory=dict)
    combos: dict[str, Combo] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    resilience: Resilience = Field(default_factory=Resilience)
    responses: ResponsesStore = Field(default_factory=ResponsesStore)
    security: Security = Field(default_factory=Security)
    endpoints: list[EndpointEntry] = Field(default_factory=list)
    """More hosts to intercept (the shipped catalog is engine.core.endpoints)."""
    users: dict[str, User] = Field(default_factory=dict)
    """Proxy users (mitmproxy's proxyauth names): group and limits (core.team)."""
    groups: dict[str, Group] = Field(default_factory=dict)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    state: str = MEMORY
    """Where the router's state lives: ``memory`` or ``redis://host:port/db``
    (Valkey, Redis), shared by instances (see engine.core.stateurl); read at
    start, and only when ``omniroute_state``/``--state`` are not given."""

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        parse_state_url(value)
        return value.strip()

    _warnings: list[str] = PrivateAttr(default_factory=list)
    _disabled: dict[str, str] = PrivateAttr(default_factory=dict)
    _digest: str = PrivateAttr(default="")

    @property
    def digest(self) -> str:
        """SHA-256 of the text it was read from (which file version runs)."""
        return self._digest

    @property
    def warnings(self) -> list[str]:
        """Non-fatal problems (providers disabled for a missing variable)."""
        return self._warnings

    @property
    def disabled(self) -> dict[str, str]:
        """Providers left out for a missing variable: name -> the variable."""
        return self._disabled


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError."""
    source = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found: {os.fspath(path)}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    return parse_config(text, source=source, env=env)


def parse_config(
    text: str, *, source: str = "config.yaml", env: Mapping[str, str] | None = None
) -> Config:
    data = _load_yaml(text, source)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{source}: {line}" for line in _pydantic_lines(exc)]) from None
    problems = _check_references(config)
    config, env_problems, disabled = _resolve_env(config, os.environ if env is None else env)
    problems += env_problems
    problems += config.web_search.problems(os.environ if env is None else env)
    if problems:
        raise ConfigError([f"{source}: {line}" for line in problems])
    config._disabled.update((name, var) for name, (_, var) in disabled.items())
    config._digest = text_digest(text)
    environ = os.environ if env is None else env
    config._warnings.extend(
        f"{source}: {path}: provider disabled: {env_problem(var, environ)}"
        for path, var in disabled.values()
    )
    return config


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is not None and (hint := _block_after_flow(text, mark.line)):
            problem += f" ({hint})"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping with providers, combos and routes"])
    return data


def _block_after_flow(text: str, line: int) -> str | None:
    """The usual slip: examples uncommented under ``providers: {}`` (or
    ``routes: []``) with the empty value still there."""
    lines = text.splitlines()
    for number in range(min(line, len(lines)) - 1, -1, -1):
        above = lines[number].split("#", 1)[0].rstrip()
        if not above:
            continue
        m = re.match(r"^(\s*)([\w.-]+):\s*(\{\}|\[\])$", above)
        if m is None:
            return None
        empty, at = m.group(3), number + 1
        return (f"line {at} gives {m.group(2)} an empty value {empty} and the lines below "
                f"give it entries: remove the {empty} on line {at}")  # fmt: skip
    return None


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _known_keys() -> list[str]:
    """Every key the config's models know (for "did you mean")."""
    keys: set[str] = set()
    pending: list[type[BaseModel]] = [Config]
    while pending:
        model = pending.pop()
        keys.update(model.model_fields)
        pending.extend(model.__subclasses__())
    for sub in (*_Model.__subclasses__(), Limits, User):
        keys.update(sub.model_fields)
    return sorted(keys)


def _pydantic_lines(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = loc.pop()
            message = f"unknown key {key!r}"
            if close := difflib.get_close_matches(str(key), _known_keys(), n=1, cutoff=0.75):
                message += f" (did you mean {close[0]!r}?)"
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "too_short":
            message = "must not be empty"
        elif kind == "literal_error":
            # Only literals echo the input: nothing else might be a secret.
            message = f"{err['msg']}, got {err['input']!r}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        path = _dotted(loc)
        lines.append(f"{path}: {message}" if path else message)
    return lines


def split_target(target: str) -> tuple[str, str] | None:
    """``provider/model`` -> (provider, model); the model may contain '/'."""
    provider, sep, model = target.partition("/")
    return (provider, model) if sep else None


def _target_problem(config: Config, target: str, *, allow_combo: bool) -> str | None:
    if target == NATIVE or (allow_combo and target in config.combos):
        return None
    parts = split_target(target)
    if parts is None:
        if target in config.combos:
            return f"{target!r} is a combo; a combo's targets are provider/model or native"
        expected = (
            "a combo, provider/model or native" if allow_combo else "provider/model or native"
        )
        return f"{target!r} is not {expected}"
    provider, model = parts
    if provider not in config.providers:
        return f"provider {provider!r} is not defined"
    if not model:
        return f"{target!r} names no model after the '/'"
    allowed = config.providers[provider].models
    if allowed is not None and model not in allowed:
        return f"model {model!r} is not in providers.{provider}.models"
    return None


def _check_references(config: Config) -> list[str]:
    problems = []
    for section, names in (("providers", config.providers), ("combos", config.combos)):
        for name in names:
            if name == NATIVE or not _NAME.match(name):
                problems.append(f"{section}.{name}: invalid name (letters, digits, _ . -)")
    for name, combo in config.combos.items():
        for i, target in enumerate(combo.names):
            if problem := _target_problem(config, target, allow_combo=False):
                problems.append(f"combos.{name}.targets[{i}]: {problem}")
    for i, route in enumerate(config.routes):
        if problem := _target_problem(config, route.to, allow_combo=True):
            problems.append(f"routes[{i}].to: {problem}")
    for name in config.groups:
        if not _NAME.match(name):
            problems.append(f"groups.{name}: invalid name (letters, digits, _ . -)")
    return problems + team_problems(config.users, config.groups)


def _used_providers(config: Config) -> set[str]:
    targets = [route.to for route in config.routes]
    targets += [t for combo in config.combos.values() for t in combo.names]
    return {parts[0] for t in targets if (parts := split_target(t))}


def env_problem(var: str, env: Mapping[str, str]) -> str:
    """Why ``${var}`` gives no value, and the fix, in one phrase. A variable
    set in the shell but not exported looks unset from here: one message
    says both."""
    if var in env:
        return (f"environment variable {var} is exported but empty "
                f"(export {var}=<your key> in the shell that starts mitmdump)")  # fmt: skip
    return (
        f"environment variable {var} is not set, or set without export "
        f"(export {var}=<your key> in the shell that starts mitmdump, then restart it)"
    )


def _interpolate(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            missing.append(name)
            return ""
        return env[name]

    return _ENV_VAR.sub(sub, value)


def _resolve_provider(
    name: str, provider: Provider, env: Mapping[str, str]
) -> tuple[Provider, list[tuple[str, str]]]:
    """Interpolate ${VAR}s; returns the provider and (path, variable) misses."""
    misses: list[tuple[str, str]] = []

    def resolve(path: str, value: str) -> str:
        missing: list[str] = []
        out = _interpolate(value, env, missing)
        misses.extend((f"providers.{name}.{path}", var) for var in missing)
        return out

    keys = [
        SecretStr(resolve(f"keys[{i}]", k.get_secret_value())) for i, k in enumerate(provider.keys)
    ]
    headers = {
        h: SecretStr(resolve(f"headers.{h}", v.get_secret_value()))
        for h, v in provider.headers.items()
    }
    base_url = resolve("base_url", provider.base_url)
    update = {"keys": keys, "headers": headers, "base_url": base_url}
    return provider.model_copy(update=update), misses


def _resolve_env(
    config: Config, env: Mapping[str, str]
) -> tuple[Config, list[str], dict[str, tuple[str, str]]]:
    """The config with ${VAR}s resolved, its problems, and the providers
    disabled for a missing variable (name -> (path, variable))."""
    used = _used_providers(config)
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    disabled: dict[str, tuple[str, str]] = {}
    for name, provider in config.providers.items():
        resolved, misses = _resolve_provider(name, provider, env)
        if not misses:
            providers[name] = resolved
        elif name in used:
            problems += [f"{path}: {env_problem(var, env)}" for path, var in misses]
        else:
            disabled[name] = misses[0]
        if not misses and not re.match(r"^https?://[^/\s]+", resolved.base_url):
            problems.append(f"providers.{name}.base_url: expected an http:// or https:// URL")
        if provider.continue_ == "prefix" and provider.format != "openai-chat":
            problems.append(
                f"providers.{name}.continue: prefix is for format openai-chat "
                f"(this provider is {provider.format})"
            )
    return config.model_copy(update={"providers": providers}), problems, disabled
