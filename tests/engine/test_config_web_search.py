"""config.yaml's web_search section: off by default, one line per problem,
the Brave key read from the variable it names and never shown."""

from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import ConfigError, parse_config


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(dedent(text), env=env or {})
    return info.value.lines


def test_off_until_a_backend_is_named():
    assert parse_config("{}", env={}).web_search.backend is None


def test_searxng_and_brave():
    searx = parse_config("web_search: {backend: searxng, url: 'http://127.0.0.1:8888/'}", env={})
    assert (searx.web_search.backend, searx.web_search.url) == ("searxng", "http://127.0.0.1:8888")
    text = "web_search: {backend: brave, api_key_env: BRAVE_KEY}"
    brave = parse_config(text, env={"BRAVE_KEY": "bk-secret-123"})
    assert brave.web_search.api_key == "bk-secret-123"
    assert "bk-secret-123" not in repr(brave) and "bk-secret-123" not in str(brave.web_search)


@pytest.mark.parametrize("text, line", [
    ("web_search: {backend: searxng}",
     "config.yaml: web_search.url: the SearXNG instance's URL is required"),
    ("web_search: {backend: brave}",
     "config.yaml: web_search.api_key_env: name the variable that holds the Brave key"),
    ("web_search: {backend: brave, api_key_env: BRAVE_KEY}",
     "config.yaml: web_search.api_key_env: environment variable BRAVE_KEY is not set, or set "
     "without export (export BRAVE_KEY=<your key> in the shell that starts mitmdump, then "
     "restart it)"),
    ("web_search: {backend: bing}",
     "config.yaml: web_search.backend: Input should be 'searxng' or 'brave', got 'bing'"),
    ("web_search: {backend: searxng, url: 'ftp://x'}",
     "config.yaml: web_search.url: expected an http:// or https:// URL, got 'ftp://x'"),
    ("web_search: {backend: brave, api_key_env: 'bk-123'}",
     "config.yaml: web_search.api_key_env: expected the name of an environment variable, "
     "got 'bk-123'"),
])  # fmt: skip
def test_each_problem_is_one_line_naming_the_key(text: str, line: str):
    assert problems(text) == [line]
