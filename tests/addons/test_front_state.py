"""omniroute_state at the front, config.yaml's state: and the engine's --state:
the shared store reaches the engine; a bad value is one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from omniroute_mitm.engine.core.config import ConfigError, parse_config
from omniroute_mitm.front import addon as front_addon

pytestmark = pytest.mark.anyio


def test_a_bad_state_in_config_yaml_is_one_line_naming_the_key_without_the_password():
    with pytest.raises(ConfigError) as info:
        parse_config("state: redis://:hunter2@cache.internal/zero", env={})
    assert info.value.lines == [
        "config.yaml: state: 'redis://:***@cache.internal/zero': the database 'zero' is not "
        "a number"
    ]
    with pytest.raises(ConfigError, match="config.yaml: state: 'http://x': want memory or"):
        parse_config("state: http://x", env={})
    assert parse_config("state: valkey://cache:6379/1", env={}).state == "valkey://cache:6379/1"


def test_a_bad_omniroute_state_is_an_options_error_naming_it(tmp_path: Path):
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="omniroute_state: 'memcache://h'"):
            tctx.configure(addon, omniroute_state="memcache://h")


async def test_an_inprocess_engine_gets_the_shared_state(tmp_path: Path, redis_url: str):
    config = tmp_path / "config.yaml"
    config.write_text("providers: {}\n")
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.options.add_option("connection_strategy", str, "eager", "proxyserver's option")
        tctx.configure(addon, omniroute_engine_mode="inprocess", omniroute_config=str(config),
                       omniroute_state=redis_url)  # fmt: skip
        engine = addon.backend.engine
        assert engine is not None and engine.state is not None
        assert engine.state.where.url == redis_url
        assert await engine.state.check()
        addon.done()
        if addon.stopping is not None:
            await addon.stopping


def test_the_engine_refuses_a_bad_state_in_one_line(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text("providers: {}\n")
    run = subprocess.run(
        [sys.executable, "-m", "omniroute_mitm.engine", "--config", str(config),
         "--secret-file", str(tmp_path / "secret"), "--state", "redis://h:port/0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip() == "--state: 'redis://h:port/0': the port is not a number 1-65535"


def test_the_standalone_engine_takes_the_state_from_config_yaml(tmp_path: Path, redis_url: str):
    config = tmp_path / "config.yaml"
    config.write_text(f"providers: {{}}\nstate: \"{redis_url}?prefix=team-a:\"\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniroute_mitm.engine", "--config", str(config),
         "--secret-file", str(tmp_path / "secret"), "--store", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "engine listening at" in line:
                break
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    out = "".join(lines) + rest
    assert f"router state shared at {redis_url} (keys team-a:*)" in out
    assert "unreachable" not in out and "Traceback" not in out
