"""Two mitmdump instances sharing one Redis server (omniroute_state): what one
instance learns (a 429) the other's next request knows; a stopped server
fails no request, and sharing resumes when it is back."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_harness import CLIENT_KEY, Mitmdump, client_ssl_context, e2e_config, provider_key
from e2e_harness import start_mitmdump as start_one
from fakeprovider import FakeProvider, Reply
from fakeprovider.sdk import Conn, call
from team.servers_valkey import RedisServer, command, start_server

pytestmark = pytest.mark.e2e

KEY1, KEY2 = provider_key("openai-chat"), provider_key("anthropic")  # both accepted


@dataclass
class Team:
    redis: RedisServer
    a: Mitmdump
    b: Mitmdump
    conn_a: Conn
    conn_b: Conn


@pytest.fixture(scope="module")
def team(tmp_path_factory, ca_dir, e2e_provider: FakeProvider) -> Iterator[Team]:
    redis = start_server(tmp_path_factory.mktemp("redis"))
    fake_url = f"http://127.0.0.1:{e2e_provider.port}/v1"
    config = e2e_config(
        e2e_provider.port,
        extra_providers={"team": {"format": "openai-chat", "base_url": fake_url,
                                  "keys": [KEY1, KEY2]}},
        extra_routes=[{"match": {"model": "shared-m"}, "to": "team/m"},
                      {"match": {"model": "shared-n"}, "to": "team/n"}],
    )  # fmt: skip
    state = f"omniroute_state={redis.url}?timeout=5"
    a = start_one(tmp_path_factory.mktemp("a"), ca_dir, config, "--set", state)
    b = start_one(tmp_path_factory.mktemp("b"), ca_dir, config, "--set", state)
    conns = [
        Conn(proxy=m.url, verify=client_ssl_context(m.confdir), api_key=CLIENT_KEY) for m in (a, b)
    ]
    yield Team(redis, a, b, *conns)
    for conn in conns:
        conn.close()
    for proc in (a, b):
        proc.stop()
        assert not proc.blocked()
        assert KEY1 not in proc.output() and KEY2 not in proc.output()
    redis.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cooled(redis: RedisServer, model: str) -> bool:
    """Whether the server holds a cooldown of a key on ``team/<model>``."""
    return f"team/{model}".encode() in command(redis.port, "KEYS", "omniroute:cool:*")


def keys_used(fake: FakeProvider) -> list[str | None]:
    return [c.api_key for c in fake.model_calls()]


def test_a_429_through_one_instance_sends_the_other_to_the_next_key(team, fake):
    fake.script([Reply(status=429, headers={"retry-after": "600"}), Reply(text="from key 2")])
    assert call(team.conn_a, "openai-chat", "shared-m", stream=True).text == "from key 2"
    assert keys_used(fake) == [KEY1, KEY2]
    wait_for(lambda: cooled(team.redis, "m"), "instance A's cooldown on the server")

    fake.reset()
    fake.script([Reply(text="B went straight to key 2")])
    got = call(team.conn_b, "openai-chat", "shared-m", stream=True)
    assert got.text == "B went straight to key 2"
    assert keys_used(fake) == [KEY2]


def test_the_state_server_down_fails_no_request_and_sharing_resumes(team, fake):
    team.redis.stop()
    for conn in (team.conn_a, team.conn_b, team.conn_a, team.conn_b):
        fake.script([Reply(text="answered without the shared state")])
        got = call(conn, "openai-chat", "shared-n", stream=False)
        assert got.text == "answered without the shared state"
    for proc in (team.a, team.b):
        assert proc.output().count("shared state unreachable") == 1
        assert "going on with this instance's memory" in proc.output()
        assert "Traceback" not in proc.output()

    team.redis.start()
    for proc in (team.a, team.b):
        wait_for(lambda p=proc: "sharing resumes" in p.output(), "the probe to find the server")
    fake.reset()
    fake.script([Reply(status=429, headers={"retry-after": "600"}), Reply(text="from key 2")])
    assert call(team.conn_b, "openai-chat", "shared-n", stream=True).text == "from key 2"
    wait_for(lambda: cooled(team.redis, "n"), "instance B's cooldown on the server")
    fake.reset()
    fake.script([Reply(text="A went straight to key 2")])
    assert call(team.conn_a, "openai-chat", "shared-n", stream=True).text == (
        "A went straight to key 2"
    )
    assert keys_used(fake) == [KEY2]


def test_the_state_url_stays_out_of_the_process_list(team):
    """It may hold the server's password: the engine child gets it in its environment."""
    found = re.search(r"omniroute engine \(pid (\d+)\) listening", team.a.output())
    assert found is not None, team.a.output()
    cmdline = Path(f"/proc/{found.group(1)}/cmdline")
    if not cmdline.exists():
        pytest.skip("no /proc here")
    assert b"redis://" not in cmdline.read_bytes()
