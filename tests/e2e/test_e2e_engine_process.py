"""The engine in its own process (the default): started with mitmdump, its log
in mitmdump's, restarted when it dies, never left behind; and the in-process
mode still serves the same calls."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import CLIENT_KEY, Mitmdump, client_ssl_context, e2e_config, start_mitmdump
from fakeprovider import Reply
from fakeprovider.sdk import Conn, call

pytestmark = pytest.mark.e2e

CHILD = re.compile(r"omniroute engine \(pid (\d+)\) listening at (http://\S+)")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped yet) is gone as far as a user can tell
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def children(mitm: Mitmdump) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for line in mitm.lines if (m := CHILD.search(line))]


def proxied(mitm: Mitmdump) -> Conn:
    return Conn(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), api_key=CLIENT_KEY)


@pytest.fixture
def own_mitm(tmp_path, ca_dir, e2e_provider) -> Iterator[Mitmdump]:
    """A mitmdump of its own: these tests kill things."""
    proc = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port))
    yield proc
    proc.stop()


def test_engine_is_a_child_whose_log_shows_in_mitmdumps(own_mitm, fake):
    fake.script([Reply(text="from the child")])
    with proxied(own_mitm) as conn:
        assert call(conn, "anthropic", "to-openai-chat", stream=True).text == "from the child"
    [(pid, url)] = children(own_mitm)
    assert url.startswith("http://127.0.0.1:") and alive(pid)
    # the engine's own line for the call, relayed into mitmdump's log
    assert wait(lambda: "-> fake-openai-chat/upstream-openai-chat 200" in own_mitm.output()), \
        own_mitm.output()
    own_mitm.stop()  # a clean stop stops the engine with it
    assert wait(lambda: not alive(pid), 10)


def test_sigkill_of_mitmdump_leaves_no_engine_behind(own_mitm):
    assert wait(lambda: children(own_mitm)), own_mitm.output()
    [(pid, _)] = children(own_mitm)
    assert own_mitm.proc is not None
    os.kill(own_mitm.proc.pid, signal.SIGKILL)
    assert wait(lambda: not alive(pid), 10), "the engine outlived a killed mitmdump"


def test_a_dead_engine_is_restarted_and_calls_work_again(own_mitm, fake):
    assert wait(lambda: children(own_mitm)), own_mitm.output()
    [(pid, _)] = children(own_mitm)
    os.kill(pid, signal.SIGKILL)
    assert wait(lambda: len(children(own_mitm)) == 2), own_mitm.output()
    assert "omniroute engine exited" in own_mitm.output()
    fake.script([Reply(text="back again")])
    with proxied(own_mitm) as conn:
        assert call(conn, "openai-chat", "to-anthropic", stream=True).text == "back again"


def test_in_process_mode_serves_the_same_calls(tmp_path, ca_dir, e2e_provider, fake):
    mitm = start_mitmdump(tmp_path, ca_dir, e2e_config(e2e_provider.port),
                          "--set", "omniroute_engine_mode=inprocess")
    try:
        fake.script([Reply(text="in one process"), Reply(text="still")])
        with proxied(mitm) as conn:
            assert call(conn, "anthropic", "to-openai-chat", stream=True).text == "in one process"
            assert call(conn, "gemini", "to-anthropic", stream=False).text == "still"
        assert not children(mitm)
        assert "omniroute engine listening at http://127.0.0.1:" in mitm.output()
    finally:
        mitm.stop()
