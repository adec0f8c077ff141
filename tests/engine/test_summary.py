"""The start-up summary and the reload diff, from configs as users write them."""

from __future__ import annotations

import logging

from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.core.summary import Setting, reload_lines, startup_lines
from omniroute_mitm.engine.serve.confwatch import ConfigWatcher

CONFIG = """
providers:
  deepseek: {format: openai-chat, base_url: "https://api.deepseek.com/v1", keys: ["${DS_KEY}"]}
  spare: {format: gemini, base_url: "https://example.com/v1beta", keys: ["${SPARE_KEY}"]}
combos:
  smart: {targets: [deepseek/deepseek-chat, native]}
routes:
  - {match: {client: anthropic, model: "claude-*"}, to: smart}
  - {match: {client: openai-responses, host: chatgpt.com}, to: deepseek/deepseek-reasoner}
"""


def lines(text: str = CONFIG, **setting) -> list[str]:
    config = parse_config(text, env={"DS_KEY": "sk-ds-secret"})
    return startup_lines(config, "/somewhere/config.yaml", Setting(**setting))


def test_summary_names_routes_disabled_providers_ca_proxy_and_env_lines(tmp_path):
    out = lines(proxy="127.0.0.1:8181", confdir=tmp_path, system_trusts=False)
    assert out[0] == "config /somewhere/config.yaml"
    assert "route anthropic/claude-* -> smart -> deepseek/deepseek-chat, native" in out
    assert "route openai-responses/* (host chatgpt.com) -> deepseek/deepseek-reasoner" in out
    assert "provider spare disabled: $SPARE_KEY is not set (export it and restart)" in out
    assert any(line.startswith("CA ") and "not in the system store" in line for line in out)
    assert "proxy http://127.0.0.1:8181 (HTTPS_PROXY for the clients)" in out
    assert ("dashboard http://omniroute/ and status http://omniroute/status through the proxy "
            "(e.g. curl -x http://127.0.0.1:8181 http://omniroute/status)") in out
    env = [line for line in out if line.startswith("env for ")]
    assert [line.split(":")[0] for line in env] == ["env for Claude Code", "env for Codex"]
    assert env[0].endswith('env --port 8181 --client claude)"')
    assert out[-1].endswith("omniroute doctor --config /somewhere/config.yaml --port 8181")
    assert "sk-ds-secret" not in "\n".join(out)


def test_a_gateway_with_proxy_users_gives_each_user_their_line():
    """proxyauth set: the line a user runs names the gateway and their user
    (the password comes from $OMNIROUTE_PROXY_PASSWORD when it runs)."""
    for proxy, host in [("0.0.0.0:8080", "GATEWAY-HOST"), ("10.0.0.5:3128", "10.0.0.5")]:
        env = [line for line in lines(proxy=proxy, proxy_users=True) if line.startswith("env for")]
        port = proxy.rpartition(":")[2]
        assert env[0].endswith(f'env --port {port} --host {host} --user USER --client claude)"')
    alone = [line for line in lines(proxy="127.0.0.1:8080") if line.startswith("env for")]
    assert "--user" not in alone[0] and "--host" not in alone[0]


def test_summary_says_whether_offline_clients_is_on_and_when_to_turn_it_on(tmp_path):
    off = [line for line in lines(offline_clients=False) if line.startswith("offline clients")]
    assert off == ["offline clients: off (offline or behind a firewall, add --set "
                   "omniroute_offline_clients=true: the CLIs' side calls then get local answers "
                   "instead of 'Name or service not known' errors)"]  # fmt: skip
    on = [line for line in lines(offline_clients=True) if line.startswith("offline clients")]
    assert on == ["offline clients: on (the CLIs' side calls to their vendors are answered here)"]


def test_summary_flags_a_ca_that_is_not_name_constrained(tmp_path):
    out = lines(confdir=tmp_path, constrained=False)
    assert any("not name-constrained" in line and "scripts/ca.py generate" in line
               for line in out)


def test_summary_without_routes_says_everything_goes_native():
    out = lines("providers: {}\n")
    assert "no routes: every model call goes native (add routes to the config)" in out
    assert any("--client claude)\" (or --client codex | gemini | sdk)" in line for line in out)


def test_reload_diff_short_long_and_none():
    old = ["config c.yaml", "route a/* -> x/y", "route b/* -> x/z"]
    assert reload_lines(old, old) == ["routes unchanged"]
    new = ["config c.yaml", "route a/* -> x/y", "route b/* -> x/w"]
    assert reload_lines(old, new) == ["- route b/* -> x/z", "+ route b/* -> x/w"]
    many = ["config c.yaml"] + [f"route m{i}/* -> x/y" for i in range(8)]
    assert reload_lines(old, many) == many


def test_watcher_logs_the_diff_on_reload(tmp_path, caplog):
    path = tmp_path / "config.yaml"
    path.write_text("routes: []\n")
    applied = []
    watcher = ConfigWatcher(path, applied.append, current=parse_config("routes: []\n"))
    path.write_text("routes:\n  - {match: {model: 'gpt-*'}, to: native}\n")
    with caplog.at_level(logging.INFO, logger="omniroute_mitm.engine.serve.confwatch"):
        assert watcher.check()
    assert applied
    message = caplog.records[-1].getMessage()
    assert message.startswith(f"config reloaded from {path}:")
    assert "\n  - no routes: every model call goes native" in message
    assert "\n  + route */gpt-* -> native" in message


def test_summary_names_the_web_search_backend_when_one_is_set():
    searx = CONFIG + "web_search: {backend: searxng, url: 'http://127.0.0.1:8888'}\n"
    assert "web search on targets without one: searxng at http://127.0.0.1:8888" in lines(searx)
    assert not any(line.startswith("web search") for line in lines())
