from pathlib import Path
from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]

VALID = """
providers:
  deepseek:
    format: openai-chat
    base_url: https://api.deepseek.com/v1/
    keys: ["${DEEPSEEK_API_KEY}", "sk-second-account"]
    models: [deepseek-chat, deepseek-reasoner]
    timeout: 30
    headers: {X-Title: "${TITLE}"}
  gemini:
    format: gemini
    base_url: https://generativelanguage.googleapis.com/v1beta
    keys: ["${GEMINI_API_KEY}"]
combos:
  smart:
    strategy: priority
    targets: [deepseek/deepseek-chat, gemini/gemini-2.5-flash, native]
routes:
  - match: {client: anthropic, model: "claude-*"}
    to: smart
  - match: {host: api.openai.com}
    to: deepseek/deepseek-reasoner
  - to: native
"""
ENV = {"DEEPSEEK_API_KEY": "sk-deepseek-secret", "GEMINI_API_KEY": "AIza-secret", "TITLE": "t"}


def lines(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(dedent(text), env=ENV if env is None else env)
    return info.value.lines


def test_valid_config_interpolates_keys_and_normalises_urls():
    config = parse_config(VALID, env=ENV)
    deepseek = config.providers["deepseek"]
    assert [k.get_secret_value() for k in deepseek.keys] == [
        "sk-deepseek-secret",
        "sk-second-account",
    ]
    assert deepseek.base_url == "https://api.deepseek.com/v1"
    assert deepseek.headers["X-Title"].get_secret_value() == "t"
    assert config.combos["smart"].targets[-1] == "native"
    assert config.routes[0].match.model == "claude-*"
    assert config.warnings == []


def test_secrets_never_in_repr_or_str():
    config = parse_config(VALID, env=ENV)
    for text in (repr(config), str(config), repr(config.providers["deepseek"])):
        assert "sk-deepseek-secret" not in text
        assert "sk-second-account" not in text
        assert "AIza-secret" not in text


def test_shipped_config_is_valid_and_routes_nothing():
    config = load_config(ROOT / "config.yaml", env={})
    assert config.routes == [] and config.providers == {} and config.warnings == []


def test_empty_file_is_valid():
    assert parse_config("", env={}).routes == []
    assert parse_config("# only comments\n", env={}).providers == {}


INVALID = [
    (
        """
        providers:
          deepseek: {format: openai-chat, base_url: "https://x/v1"}
        combos:
          smart: {targets: [deepseak/deepseek-chat]}
        """,
        "config.yaml: combos.smart.targets[0]: provider 'deepseak' is not defined",
    ),
    (
        "providers:\n  p: {format: openai, base_url: 'https://x'}\n",
        "config.yaml: providers.p.format: Input should be 'openai-chat', 'openai-responses', "
        "'anthropic' or 'gemini', got 'openai'",
    ),
    (
        "providers:\n  p: {format: gemini, base_url: 'https://x', kyes: []}\n",
        "config.yaml: providers.p: unknown key 'kyes' (did you mean 'keys'?)",
    ),
    (
        "provider: {}\n",
        "config.yaml: unknown key 'provider' (did you mean 'providers'?)",
    ),
    (
        "providers:\n  p: {format: gemini}\n",
        "config.yaml: providers.p.base_url: required key is missing",
    ),
    (
        "providers:\n  p: {format: gemini, base_url: 'ftp://x'}\n",
        "config.yaml: providers.p.base_url: expected an http:// or https:// URL, got 'ftp://x'",
    ),
    (
        "providers:\n  p: {format: gemini, base_url: 'https://x', timeout: 0}\n",
        "config.yaml: providers.p.timeout: Input should be greater than 0",
    ),
    (
        "combos:\n  smart: {targets: []}\n",
        "config.yaml: combos.smart.targets: must not be empty",
    ),
    (
        "combos:\n  smart: {strategy: fastest, targets: [native]}\n",
        "config.yaml: combos.smart.strategy: Input should be 'priority', 'weighted', "
        "'round-robin', 'random', 'strict-random', 'least-used', 'fill-first', 'p2c', 'cost', "
        "'latency', 'lkgp' or 'context-fit', got 'fastest'",
    ),
    (
        "routes:\n  - match: {client: anthropic}\n    to: smrt\n",
        "config.yaml: routes[0].to: 'smrt' is not a combo, provider/model or native",
    ),
    (
        "routes:\n  - {match: {modle: 'x'}, to: native}\n",
        "config.yaml: routes[0].match: unknown key 'modle' (did you mean 'model'?)",
    ),
    (
        "routes:\n  - match: {client: claude}\n    to: native\n",
        "config.yaml: routes[0].match.client: Input should be 'openai-chat', 'openai-responses', "
        "'anthropic' or 'gemini', got 'claude'",
    ),
    (
        "routes:\n  - match: {}\n",
        "config.yaml: routes[0].to: required key is missing",
    ),
    (
        """
        providers:
          ds: {format: openai-chat, base_url: "https://x", models: [deepseek-chat]}
        routes:
          - to: ds/gpt-4o
        """,
        "config.yaml: routes[0].to: model 'gpt-4o' is not in providers.ds.models",
    ),
    (
        """
        combos:
          a: {targets: [native]}
          b: {targets: [a]}
        """,
        "config.yaml: combos.b.targets[0]: 'a' is a combo; a combo's targets are provider/model or native",  # noqa: E501
    ),
    (
        """
        providers:
          ds: {format: openai-chat, base_url: "https://x"}
        routes:
          - to: ds/
        """,
        "config.yaml: routes[0].to: 'ds/' names no model after the '/'",
    ),
    (
        "providers:\n  native: {format: gemini, base_url: 'https://x'}\n",
        "config.yaml: providers.native: invalid name (letters, digits, _ . -)",
    ),
    (
        "providers: [a, b]\n",
        "config.yaml: providers: Input should be a valid dictionary",
    ),
    (
        "- just a list\n",
        "config.yaml: expected a mapping with providers, combos and routes",
    ),
    (
        "providers:\n  p: {format: gemini\n",
        "config.yaml:3:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_each_invalid_case_gives_one_exact_line(text, expected):
    assert lines(text) == [expected]


def test_all_problems_are_reported_together():
    text = """
    combos:
      smart: {targets: [deepseak/x, native, nope]}
    routes:
      - to: smrt
    """
    assert lines(text) == [
        "config.yaml: combos.smart.targets[0]: provider 'deepseak' is not defined",
        "config.yaml: combos.smart.targets[2]: 'nope' is not provider/model or native",
        "config.yaml: routes[0].to: 'smrt' is not a combo, provider/model or native",
    ]


def test_missing_env_for_a_used_provider_names_key_and_variable():
    text = """
    providers:
      ds: {format: openai-chat, base_url: "https://x", keys: ["sk-ok", "${DS_KEY_2}"]}
    routes:
      - to: ds/deepseek-chat
    """
    assert lines(text, env={}) == [
        "config.yaml: providers.ds.keys[1]: environment variable DS_KEY_2 is not set, or set "
        "without export (export DS_KEY_2=<your key> in the shell that starts mitmdump, then "
        "restart it)"
    ]
    assert lines(text, env={"DS_KEY_2": ""}) == [
        "config.yaml: providers.ds.keys[1]: environment variable DS_KEY_2 is exported but "
        "empty (export DS_KEY_2=<your key> in the shell that starts mitmdump)"
    ]


def test_missing_env_for_an_unused_provider_disables_it_with_a_warning():
    text = """
    providers:
      ds: {format: openai-chat, base_url: "https://x", keys: ["${DS_KEY}"]}
      other: {format: gemini, base_url: "https://y", keys: ["k"]}
    """
    config = parse_config(dedent(text), env={})
    assert list(config.providers) == ["other"]
    assert config.warnings == [
        "config.yaml: providers.ds.keys[0]: provider disabled: environment variable DS_KEY is "
        "not set, or set without export (export DS_KEY=<your key> in the shell that starts "
        "mitmdump, then restart it)"
    ]


def test_a_typo_names_the_nearest_key_and_nothing_when_none_is_near():
    text = """
    providers:
      ds: {format: openai-chat, base_ur: "https://x", keys: ["k"], zzzz: 1}
    """
    assert lines(text) == [
        "config.yaml: providers.ds.base_url: required key is missing",
        "config.yaml: providers.ds: unknown key 'base_ur' (did you mean 'base_url'?)",
        "config.yaml: providers.ds: unknown key 'zzzz'",
    ]


def test_examples_uncommented_under_an_empty_mapping_say_which_line_to_fix():
    text = "# my config\nproviders: {}\n  ds:\n    format: openai-chat\n"
    assert lines(text) == [
        "config.yaml:3:3: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(line 2 gives providers an empty value {} and the lines below give it entries: "
        "remove the {} on line 2)"
    ]


def test_pydantic_errors_never_echo_a_key():
    text = 'providers:\n  p: {format: gemini, base_url: "https://x", keys: "sk-very-secret"}\n'
    (line,) = lines(text)
    assert "sk-very-secret" not in line
    assert line.startswith("config.yaml: providers.p.keys: ")


def test_file_name_is_the_real_one(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("routes:\n  - to: nowhere\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.lines == [
        "mine.yaml: routes[0].to: 'nowhere' is not a combo, provider/model or native"
    ]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml")
    assert info.value.lines[0].startswith("absent.yaml: file not found: ")


def test_model_names_may_contain_slashes():
    text = """
    providers:
      openrouter: {format: openai-chat, base_url: "https://openrouter.ai/api/v1"}
    routes:
      - to: openrouter/anthropic/claude-sonnet-4
    """
    assert parse_config(dedent(text), env={}).routes[0].to == "openrouter/anthropic/claude-sonnet-4"


def test_security_allowed_origins_default_empty_and_validated():
    assert parse_config("").security.allowed_origins == []
    config = parse_config("security:\n  allowed_origins: ['https://app.example', 'http://localhost:3000']\n")
    assert config.security.allowed_origins == ["https://app.example", "http://localhost:3000"]
    (line,) = lines("security:\n  allowed_origins: ['https://app.example/path']\n")
    assert line.startswith("config.yaml: security.allowed_origins") and "no origin" in line


def test_continuation_limits_in_resilience():
    default = parse_config("", env={}).resilience
    assert (default.continue_, default.max_continuations, default.stall_timeout) == (True, 1, None)
    text = "resilience: {continue: false, max_continuations: 2, stall_timeout: 5}"
    res = parse_config(text, env={}).resilience
    assert (res.continue_, res.max_continuations, res.stall_timeout) == (False, 2, 5)
    with pytest.raises(ConfigError):
        parse_config("resilience: {stall_timeout: 0}", env={})


def test_a_provider_says_how_it_continues():
    text = dedent("""
        providers:
          own: {format: openai-chat, base_url: "http://10.0.0.5/v1", continue: prefix}
          plain: {format: openai-chat, base_url: "https://api.example.com/v1"}
          claude: {format: anthropic, base_url: "https://a.example/v1", continue: instruction}
    """)
    providers = parse_config(text, env={}).providers
    assert (providers["own"].continue_, providers["plain"].continue_) == ("prefix", None)
    assert providers["claude"].continue_ == "instruction"
    with pytest.raises(ConfigError) as info:
        parse_config("providers:\n  g: {format: gemini, base_url: 'https://g.example/v1beta', "
                     "continue: prefix}\n", env={})  # fmt: skip
    (line,) = info.value.lines
    assert line.startswith("config.yaml: providers.g.continue: prefix is for format openai-chat")
    with pytest.raises(ConfigError) as info:
        parse_config("providers:\n  c: {format: openai-chat, base_url: 'https://c.example/v1', "
                     "continue: exactly}\n", env={})  # fmt: skip
    assert "providers.c.continue" in info.value.lines[0]


def test_web_search_switches_and_their_one_line_errors():
    assert parse_config("", env={}).web_search.unsupported == "error"
    dropping = parse_config("web_search: {unsupported: drop}\n", env={})
    assert dropping.web_search.unsupported == "drop"
    with pytest.raises(ConfigError) as info:
        parse_config("web_search: {unsupported: ignore}\n", env={})
    (line,) = info.value.lines
    assert line.startswith("config.yaml: web_search.unsupported: ") and "\n" not in line
    with pytest.raises(ConfigError) as info:
        parse_config("web_search: {backnd: {}}\n", env={})
    assert info.value.lines == [
        "config.yaml: web_search: unknown key 'backnd' (did you mean 'backend'?)"
    ]
