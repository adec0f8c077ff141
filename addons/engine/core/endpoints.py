"""The endpoint catalog: which host and path is which client format.

The original five hosts (Anthropic, OpenAI, ChatGPT, Gemini, Code Assist) are
classified by :mod:`.calls` itself. This catalog adds the vendors whose APIs
speak one of those wire formats at their own base URL (OpenAI- or
Anthropic-compatible), and config.yaml's ``endpoints:`` adds more. A POST to a
listed path is a model call (``generate``; ``<anthropic path>/count_tokens``
is ``count_tokens``); anything else on a catalogued host (model lists,
account, balance) is no model call and passes through untouched.

Each entry cites the documentation of its base URL, paths and auth header
(checked 2026-12): the vendor's own where it was found, else a page that
quotes it (said so in the comment). ``key`` says how the client sends its own key there
(it is forwarded as sent on a ``native`` route, and hashed for the usage log).

The project's CA is name-constrained to :func:`ca_names`: the catalog's hosts
and the config's (see ``scripts/ca.py generate``); a host the CA in use does
not cover is never decrypted (the front leaves it tunnelled).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import Config, Provider

KeyStyle = Literal["bearer", "x-api-key", "api-key", "x-goog-api-key"]
KEY_STYLES: tuple[KeyStyle, ...] = ("bearer", "x-api-key", "api-key", "x-goog-api-key")
ClientFormat = Literal["openai-chat", "openai-responses", "anthropic"]
CLIENT_FORMATS: tuple[ClientFormat, ...] = ("openai-chat", "openai-responses", "anthropic")

ENGINE_PATHS: dict[tuple[str, str], str] = {
    ("anthropic", "generate"): "/v1/messages",
    ("anthropic", "count_tokens"): "/v1/messages/count_tokens",
    ("openai-chat", "generate"): "/v1/chat/completions",
    ("openai-responses", "generate"): "/v1/responses",
}
"""Where the engine serves a call of each format (the front rewrites a
catalogued vendor's path to it; the original URL travels in a header)."""

BUILTIN_VENDORS = {
    "api.anthropic.com": "anthropic",
    "api.openai.com": "openai",
    "chatgpt.com": "chatgpt",
    "generativelanguage.googleapis.com": "gemini",
    "cloudcode-pa.googleapis.com": "code-assist",
}
"""The hosts :mod:`.calls` classifies itself, by the vendor name usage shows."""

BASE_DOMAINS = (
    "anthropic.com",  # api.anthropic.com (Claude Code, SDK)
    "openai.com",  # api.openai.com (Codex, SDKs)
    "chatgpt.com",  # chatgpt.com/backend-api/codex (Codex, ChatGPT login)
    "generativelanguage.googleapis.com",  # Gemini API (Gemini CLI, google-genai)
    "cloudcode-pa.googleapis.com",  # Gemini CLI, login-with-Google mode
)
"""The CA's names for the builtin hosts (each also covers its subdomains)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Model-call paths on one host in one client format."""

    vendor: str
    host: str
    format: ClientFormat
    paths: tuple[str, ...]
    key: KeyStyle = "bearer"
    docs: str = ""


def _ep(vendor: str, host: str, fmt: ClientFormat, paths: Sequence[str], key: KeyStyle,
        docs: str) -> Endpoint:  # fmt: skip
    return Endpoint(vendor, host, fmt, tuple(paths), key, docs)


CATALOG: tuple[Endpoint, ...] = (
    # DeepSeek: OpenAI base_url https://api.deepseek.com (or .../v1), Authorization: Bearer;
    # https://api-docs.deepseek.com/ ("Your First API Call": curl .../chat/completions)
    _ep("deepseek", "api.deepseek.com", "openai-chat",
        ["/chat/completions", "/v1/chat/completions"], "bearer",
        "https://api-docs.deepseek.com/"),
    # Anthropic base_url https://api.deepseek.com/anthropic (the SDK appends /v1/messages;
    # raw HTTP may use /anthropic/messages), x-api-key or Authorization: Bearer;
    # https://api-docs.deepseek.com/guides/anthropic_api, https://api-docs.deepseek.com/api/create-message
    _ep("deepseek", "api.deepseek.com", "anthropic",
        ["/anthropic/v1/messages", "/anthropic/messages"], "x-api-key",
        "https://api-docs.deepseek.com/guides/anthropic_api"),
    # Moonshot / Kimi: https://api.moonshot.ai/v1 (/chat/completions, /responses),
    # Authorization: Bearer; ANTHROPIC_BASE_URL=https://api.moonshot.ai/anthropic (Claude Code
    # sends ANTHROPIC_AUTH_TOKEN as a bearer, the Anthropic SDK's api_key goes as x-api-key);
    # https://platform.kimi.ai/docs/api/overview (as summarised with its Anthropic base URL at
    # https://www.developersdigest.tech/reference/api-compatibility/moonshot)
    _ep("moonshot", "api.moonshot.ai", "openai-chat", ["/v1/chat/completions"], "bearer",
        "https://platform.kimi.ai/docs/api/overview"),
    _ep("moonshot", "api.moonshot.ai", "openai-responses", ["/v1/responses"], "bearer",
        "https://platform.kimi.ai/docs/api/overview"),
    _ep("moonshot", "api.moonshot.ai", "anthropic", ["/anthropic/v1/messages"], "x-api-key",
        "https://www.developersdigest.tech/reference/api-compatibility/moonshot"),
    # Z.ai / GLM: https://api.z.ai/api/paas/v4 (GLM Coding Plan: .../api/coding/paas/v4),
    # Authorization: Bearer; https://docs.z.ai/guides/develop/http/introduction,
    # https://docs.z.ai/api-reference/introduction
    _ep("zai", "api.z.ai", "openai-chat",
        ["/api/paas/v4/chat/completions", "/api/coding/paas/v4/chat/completions"], "bearer",
        "https://docs.z.ai/guides/develop/http/introduction"),
    # The GLM Coding Plan's Anthropic-compatible endpoint for Claude Code:
    # ANTHROPIC_BASE_URL=https://api.z.ai/api/anthropic with ANTHROPIC_AUTH_TOKEN (a bearer);
    # https://docs.z.ai/devpack/overview (the set-up as described at
    # https://jackin.tailrocks.com/guides/authentication/zai/)
    _ep("zai", "api.z.ai", "anthropic", ["/api/anthropic/v1/messages"], "bearer",
        "https://docs.z.ai/devpack/overview"),
    # OpenRouter: POST https://openrouter.ai/api/v1/chat/completions, Authorization: Bearer;
    # https://openrouter.ai/docs/api-reference/overview; the Responses API beta at
    # /api/v1/responses: https://openrouter.ai/docs/api_reference/responses/basic-usage
    _ep("openrouter", "openrouter.ai", "openai-chat", ["/api/v1/chat/completions"], "bearer",
        "https://openrouter.ai/docs/api-reference/overview"),
    _ep("openrouter", "openrouter.ai", "openai-responses", ["/api/v1/responses"], "bearer",
        "https://openrouter.ai/docs/api_reference/responses/basic-usage"),
    # Claude Code: ANTHROPIC_BASE_URL=https://openrouter.ai/api, ANTHROPIC_AUTH_TOKEN (Bearer);
    # https://openrouter.ai/docs/guides/coding-agents/claude-code-integration
    _ep("openrouter", "openrouter.ai", "anthropic", ["/api/v1/messages"], "bearer",
        "https://openrouter.ai/docs/guides/coding-agents/claude-code-integration"),
    # xAI: https://api.x.ai/v1 (/responses recommended, /chat/completions legacy),
    # Authorization: Bearer; https://docs.x.ai/developers/model-capabilities/text/comparison.
    # POST /v1/messages (Anthropic SDK compatibility, x-api-key) is listed under its legacy
    # and deprecated APIs: https://www.developersdigest.tech/reference/api-compatibility/xai
    _ep("xai", "api.x.ai", "openai-chat", ["/v1/chat/completions"], "bearer",
        "https://docs.x.ai/developers/model-capabilities/text/comparison"),
    _ep("xai", "api.x.ai", "openai-responses", ["/v1/responses"], "bearer",
        "https://docs.x.ai/developers/model-capabilities/text/comparison"),
    _ep("xai", "api.x.ai", "anthropic", ["/v1/messages"], "x-api-key",
        "https://www.developersdigest.tech/reference/api-compatibility/xai"),
    # Mistral: https://api.mistral.ai/v1/chat/completions, Authorization: Bearer;
    # https://docs.mistral.ai/api/ (Mistral's own reference was not in the searchable
    # corpus; the base URL and bearer auth as its SDKs' defaults document them, e.g.
    # https://tessl.io/registry/tessl/npm-ai-sdk--mistral/2.0.0/files/docs/provider-configuration.md)
    _ep("mistral", "api.mistral.ai", "openai-chat", ["/v1/chat/completions"], "bearer",
        "https://docs.mistral.ai/api/"),
    # Groq: base_url https://api.groq.com/openai/v1 (chat/completions, responses), the key as
    # the OpenAI client's api_key (Bearer); https://console.groq.com/docs/openai
    _ep("groq", "api.groq.com", "openai-chat", ["/openai/v1/chat/completions"], "bearer",
        "https://console.groq.com/docs/openai"),
    _ep("groq", "api.groq.com", "openai-responses", ["/openai/v1/responses"], "bearer",
        "https://console.groq.com/docs/openai"),
    # DashScope / Qwen (Model Studio): OpenAI-compatible base_url
    # https://dashscope-intl.aliyuncs.com/compatible-mode/v1 (Singapore) and
    # https://dashscope.aliyuncs.com/compatible-mode/v1 (Beijing), Bearer;
    # https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope
    _ep("dashscope", "dashscope-intl.aliyuncs.com", "openai-chat",
        ["/compatible-mode/v1/chat/completions"], "bearer",
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope"),
    _ep("dashscope", "dashscope.aliyuncs.com", "openai-chat",
        ["/compatible-mode/v1/chat/completions"], "bearer",
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope"),
    # GitHub Copilot: api.githubcopilot.com /chat/completions, /responses, /v1/messages with
    # Authorization: Bearer <Copilot token>. GitHub publishes no reference for this API;
    # the paths are those Copilot's clients call, as LiteLLM documents them:
    # https://docs.litellm.ai/docs/providers/github_copilot
    _ep("github-copilot", "api.githubcopilot.com", "openai-chat", ["/chat/completions"],
        "bearer", "https://docs.litellm.ai/docs/providers/github_copilot"),
    _ep("github-copilot", "api.githubcopilot.com", "openai-responses", ["/responses"],
        "bearer", "https://docs.litellm.ai/docs/providers/github_copilot"),
    _ep("github-copilot", "api.githubcopilot.com", "anthropic", ["/v1/messages"],
        "bearer", "https://docs.litellm.ai/docs/providers/github_copilot"),
)  # fmt: skip


_GLOB = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class Catalog:
    """The shipped catalog plus config.yaml's ``endpoints:``, and the literal
    hosts routes name (classified by the standard paths)."""

    endpoints: tuple[Endpoint, ...] = CATALOG
    route_hosts: frozenset[str] = frozenset()
    _by_host: dict[str, list[Endpoint]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for ep in self.endpoints:
            self._by_host.setdefault(ep.host, []).append(ep)

    def hosts(self) -> tuple[str, ...]:
        """Every host whose model calls the front may take: builtin first."""
        out = list(BUILTIN_VENDORS)
        for host in [*self._by_host, *sorted(self.route_hosts)]:
            if host not in out:
                out.append(host)
        return tuple(out)

    def knows(self, host: str | None) -> bool:
        if host is None:
            return False
        host = host.lower()
        return host in BUILTIN_VENDORS or host in self._by_host or host in self.route_hosts

    def lookup(self, method: str, route: str, host: str) -> tuple[Endpoint, str] | None:
        """The endpoint and call kind (generate, count_tokens) of a POST to
        ``route`` (no query, no trailing slash) on ``host``."""
        if method != "POST":
            return None
        for ep in self._by_host.get(host.lower(), ()):
            for path in ep.paths:
                if route == path:
                    return ep, "generate"
                if ep.format == "anthropic" and route == path + "/count_tokens":
                    return ep, "count_tokens"
        return None

    def vendor(self, host: str | None) -> str | None:
        """The vendor name of a host (usage's client endpoint)."""
        if host is None:
            return None
        host = host.lower()
        if host in BUILTIN_VENDORS:
            return BUILTIN_VENDORS[host]
        if host in self._by_host:
            return self._by_host[host][0].vendor
        return host if host in self.route_hosts else None

    def key_style(self, host: str | None) -> KeyStyle | None:
        found = self._by_host.get((host or "").lower())
        return found[0].key if found else None


DEFAULT = Catalog()


def catalog(config: Config | None) -> Catalog:
    """The shipped catalog with the config's ``endpoints:`` and route hosts."""
    if config is None:
        return DEFAULT
    cached = _CACHE.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    extra = tuple(
        Endpoint(e.vendor or e.host, e.host, e.format, tuple(e.paths), e.key, "config.yaml")
        for e in config.endpoints
    )
    made = Catalog(CATALOG + extra, frozenset(route_hosts(config)))
    _CACHE.clear()  # one config at a time (a reload replaces it)
    _CACHE[id(config)] = (config, made)
    return made


_CACHE: dict[int, tuple[Config, Catalog]] = {}


def route_hosts(config: Config) -> list[str]:
    """Literal hosts in the routes' ``match.host`` (globs name no host to decrypt)."""
    out = []
    for route in config.routes:
        host = route.match.host
        if host and not _GLOB.search(host) and host.lower() not in out:
            out.append(host.lower())
    return out


def covers(names: Iterable[str], host: str) -> bool:
    """Whether a CA name-constrained to ``names`` can sign for ``host``
    (RFC 5280 dNSName: a name covers itself and its subdomains)."""
    host = host.lower().rstrip(".")
    return any(host == n or host.endswith("." + n) for n in (n.lower().lstrip(".") for n in names))


def ca_names(config: Config | None = None) -> tuple[str, ...]:
    """The names the CA must permit: the builtin domains, then each catalogued
    (and configured, and route-named) host not already covered."""
    names = list(BASE_DOMAINS)
    for host in catalog(config).hosts():
        if not covers(names, host):
            names.append(host)
    return tuple(names)


def uncovered(names: Iterable[str], config: Config | None = None) -> list[str]:
    """The hosts the front would take that a CA permitting ``names`` cannot sign for."""
    names = list(names)
    return [h for h in catalog(config).hosts() if not covers(names, h)]


# ---------------------------------------------------------------- continuation

Continuation = Literal["prefill", "prefix", "instruction"]
"""How a broken stream's continuation hands a target the partial answer: an
Anthropic assistant prefill, an OpenAI Chat assistant message with
``"prefix": true`` (both continue exactly), or the partial answer plus an
instruction to go on (its repeated opening trimmed)."""

PREFIX_HOSTS: dict[str, str | None] = {
    # DeepSeek's chat prefix completion (beta): the last message is the assistant's with
    # "prefix": true, and the request goes to base_url https://api.deepseek.com/beta;
    # https://api-docs.deepseek.com/guides/chat_prefix_completion
    "api.deepseek.com": "/beta",
    # Mistral: an assistant message's "prefix": true makes the model start its answer with
    # that message's content, on the usual /v1/chat/completions (AssistantMessage.prefix in
    # https://docs.mistral.ai/api/ ; quoted from the API spec by its generated clients, e.g.
    # https://docs.rs/crate/mistral-openapi-client/latest/source/docs/AssistantMessage.md)
    "api.mistral.ai": None,
}
"""Hosts whose OpenAI Chat API continues an assistant prefix, and the base
path such a request goes to (None: the provider's own base URL)."""


def continuation(provider: Provider) -> Continuation:
    """How ``provider`` continues: its ``continue:`` option, else by format and host."""
    if provider.continue_ == "instruction":
        return "instruction"
    if provider.format == "anthropic":
        return "prefill"
    if provider.format == "openai-chat" and (
        provider.continue_ == "prefix" or _host_of(provider.base_url) in PREFIX_HOSTS
    ):
        return "prefix"
    return "instruction"


def prefix_base_url(base_url: str) -> str:
    """Where a prefix continuation goes: DeepSeek's beta base URL, else ``base_url``."""
    path = PREFIX_HOSTS.get(_host_of(base_url))
    if path is None:
        return base_url
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{path}"


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
