"""A gateway for a team, end to end: three real mitmdumps (each with its own
engine child and data dir) with proxy users (``proxyauth``), sharing one real
Redis/Valkey server (``omniroute_state``) and one real PostgreSQL
(``omniroute_store``); the official SDKs spread over the instances; fake
providers behind (they record which key each request used).

What one instance learns the others act on: a 429's cooldown, a
conversation's account, a user's spend, a stored response. Losing parts of
the team loses nothing committed: kill -9 of an instance mid-stream and a
restart of PostgreSQL during traffic leave one usage row per complete answer;
Valkey stopped fails no request, and sharing resumes when it is back."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import bcrypt
import openai
import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    provider_key,
    start_mitmdump,
)
from fakeprovider import FakeProvider, Reply, Usage
from fakeprovider.sdk import Conn, call
from google.genai import errors as genai_errors
from team.servers_postgres import PostgresServer
from team.servers_valkey import RedisServer, start_server

pytestmark = pytest.mark.e2e
psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (the test extra has it)")
redis = pytest.importorskip("redis", reason="redis not installed (the test extra has it)")

PASSWORDS = {name: f"{name}-pw" for name in ("alice", "carol", "ann", "ben", "cat")}
POOL = [f"pk-pool-{n}-injected" for n in (1, 2)]  # fill-first: a 429 moves on to the next
SPARE = [f"pk-spare-{n}-injected" for n in (1, 2)]  # the same, for the Valkey outage
ACCOUNTS = [f"pk-acct-{n}-injected" for n in (1, 2)]  # round-robin, affinity per conversation
PAID = "pk-paid-injected"
SLOW = "pk-slow-injected"
KEYS = [*POOL, *SPARE, *ACCOUNTS, PAID, SLOW, *map(provider_key, FORMATS)]
PRICE = {"input": 100.0, "output": 100.0}  # $ per million: 2,000 tokens cost $0.20
ENGINE = re.compile(r"omniroute engine \(pid (\d+)\) listening")
CHUNKS = 40  # the slow stream's pieces, half a second apart: it outlives the kill


@dataclass
class Instance:
    name: str
    mitm: Mitmdump
    conns: dict[str, Conn] = field(default_factory=dict)

    def conn(self, user: str) -> Conn:
        """The SDKs of ``user``, through this instance (proxy credentials in the URL)."""
        if user not in self.conns:
            proxy = f"http://{user}:{PASSWORDS[user]}@127.0.0.1:{self.mitm.port}"
            self.conns[user] = Conn(proxy=proxy, verify=client_ssl_context(self.mitm.confdir),
                                    api_key=CLIENT_KEY, timeout=60)  # fmt: skip
        return self.conns[user]

    def engine_pid(self) -> int | None:
        found = [m for line in self.mitm.lines if (m := ENGINE.search(line))]
        return int(found[-1].group(1)) if found else None


@dataclass
class Team:
    redis: RedisServer
    pg: PostgresServer
    store: str
    fake: FakeProvider
    slow: FakeProvider
    a: Instance
    b: Instance
    c: Instance

    @property
    def all(self) -> tuple[Instance, Instance, Instance]:
        return self.a, self.b, self.c

    def shared(self) -> redis.Redis:
        return redis.Redis(port=self.redis.port, socket_timeout=5)

    def rows(self) -> list[tuple[str, int, str]]:
        with psycopg.connect(self.store) as db:
            return db.execute('SELECT "user", status, requested_model FROM requests').fetchall()


def htpasswd(path: Path) -> Path:
    lines = [f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}"
             for user, pw in PASSWORDS.items()]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def team_config(fake: FakeProvider, slow: FakeProvider) -> dict:
    def provider(fmt: str, keys: list[str], on: FakeProvider = fake, **more: object) -> dict:
        path = "v1beta" if fmt == "gemini" else "v1"
        return {"format": fmt, "base_url": f"http://127.0.0.1:{on.port}/{path}", "keys": keys,
                **more}  # fmt: skip

    config = e2e_config(
        fake.port,
        extra_providers={
            "pool": provider("openai-chat", POOL),
            "spare": provider("anthropic", SPARE),
            "acct": provider("anthropic", ACCOUNTS, key_strategy="round-robin"),
            "paid": provider("openai-chat", [PAID], price=PRICE),
            "slowp": provider("openai-chat", [SLOW], on=slow),
        },
        extra_combos={"sticky": {"strategy": "round-robin", "targets": ["acct/claude-team"]}},
        extra_routes=[
            {"match": {"model": "pool-m"}, "to": "pool/m"},
            {"match": {"model": "spare-m"}, "to": "spare/m"},
            {"match": {"model": "sticky-m"}, "to": "sticky"},
            {"match": {"model": "paid-m"}, "to": "paid/m"},
            {"match": {"model": "slow-m"}, "to": "slowp/m"},
        ],
    )
    config["groups"] = {"dev": {}}
    config["users"] = {"carol": {"group": "dev", "usd_per_day": 0.5}}
    return config


@pytest.fixture(scope="module")
def team(tmp_path_factory, ca_dir, postgres_server: PostgresServer) -> Iterator[Team]:
    tmp = tmp_path_factory.mktemp("team")
    valkey = start_server(tmp / "redis")
    fake = FakeProvider(accept_keys=KEYS).start()
    slow = FakeProvider(accept_keys=KEYS).start()
    store = postgres_server.url(postgres_server.create_database())
    config, users = team_config(fake, slow), htpasswd(tmp / "users.htpasswd")
    options = ("--set", f"proxyauth=@{users}", "--set", f"omniroute_state={valkey.url}?timeout=5",
               "--set", f"omniroute_store={store}")  # fmt: skip
    with ThreadPoolExecutor(3) as pool:  # the three start at once
        started = [pool.submit(start_mitmdump, tmp / name, ca_dir, config, *options)
                   for name in "abc"]  # fmt: skip
        mitms = [f.result() for f in started]
    team = Team(valkey, postgres_server, store, fake, slow,
                *(Instance(n, m) for n, m in zip("ABC", mitms, strict=True)))  # fmt: skip
    yield team
    for instance in team.all:
        for conn in instance.conns.values():
            conn.close()
        instance.mitm.stop()
    postgres_server.start()  # (whatever a test left)
    valkey.stop()
    fake.stop()
    slow.stop()
    for instance in team.all:
        log = instance.mitm.output()
        assert not instance.mitm.blocked(), f"{instance.name} tried to leave loopback"
        leaked = [k for k in (CLIENT_KEY, *KEYS, *PASSWORDS.values()) if k in log]
        assert not leaked, f"secrets in {instance.name}'s log: {leaked}"


@pytest.fixture
def fresh(team: Team) -> Team:
    for fake in (team.fake, team.slow):
        fake.reset()
    return team


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def keys_used(fake: FakeProvider) -> list[str | None]:
    return [c.api_key for c in fake.model_calls()]


def cooled(team: Team, target: str) -> bool:
    """Whether the shared state holds a cooldown of a key on ``target``."""
    return any(target.encode() in k for k in team.shared().keys("omniroute:cool:*"))


# ------------------------------------------------------------------ the router's state


def test_a_429_through_one_instance_sends_the_others_to_the_next_key(fresh):
    team = fresh
    team.fake.script([Reply(status=429, headers={"retry-after": "600"}), Reply(text="key 2")])
    assert call(team.a.conn("alice"), "openai-chat", "pool-m", stream=True).text == "key 2"
    assert keys_used(team.fake) == POOL
    wait_for(lambda: cooled(team, "pool/m"), "A's cooldown in the shared state")

    team.fake.reset()
    team.fake.default = Reply(text="straight to key 2")
    assert call(team.b.conn("alice"), "anthropic", "pool-m", stream=True).text == (
        "straight to key 2")  # fmt: skip
    assert call(team.c.conn("alice"), "gemini", "pool-m", stream=False).text == (
        "straight to key 2")  # fmt: skip
    assert keys_used(team.fake) == [POOL[1], POOL[1]]  # neither instance tried key 1


def test_a_conversation_keeps_its_account_across_instances(fresh):
    """The combo rotates accounts per request (round-robin, one ring for all
    instances); a conversation stays on the account of its first turn on
    whichever instance its next turns arrive."""
    team, shared = fresh, fresh.shared()
    team.fake.default = Reply(text="noted")
    history: list[dict] = [{"role": "user", "content": "Remember the number 7."}]
    sent = 0

    def turn(instance: Instance) -> None:
        nonlocal sent
        reply = call(instance.conn("alice"), "anthropic", "sticky-m", stream=True,
                     history=history)  # fmt: skip
        history.extend([{"role": "assistant", "content": reply.text},
                        {"role": "user", "content": f"And now turn {len(history)}?"}])  # fmt: skip
        sent += 1
        wait_for(lambda: int(shared.get("omniroute:keys:acct") or 0) >= sent, "the ring's count")
        wait_for(lambda: shared.keys("omniroute:aff:sticky:*"), "the conversation's account")

    def other(instance: Instance, fmt: str) -> None:
        nonlocal sent
        call(instance.conn("alice"), fmt, "sticky-m", stream=False, prompt=f"other {sent}")
        sent += 1
        wait_for(lambda: int(shared.get("omniroute:keys:acct") or 0) >= sent, "the ring's count")

    # the conversation's turns come when the ring points at the other account
    turn(team.a)
    other(team.b, "openai-chat")
    other(team.c, "openai-responses")
    turn(team.b)
    other(team.a, "gemini")
    turn(team.c)
    used = keys_used(team.fake)
    conversation, others = [used[i] for i in (0, 3, 5)], [used[i] for i in (1, 2, 4)]
    assert conversation == [ACCOUNTS[0]] * 3, used
    assert set(others) == set(ACCOUNTS), used  # the ring did rotate: 2, 1, 1


def test_a_budget_is_held_across_instances(fresh):
    """carol may spend $0.50 a day; each answer costs $0.20. The third (on C)
    crosses the budget and is the last one let through; the next, on A, and
    any after it on B, get a 429 in their own format."""
    team, shared = fresh, fresh.shared()
    team.fake.default = Reply(text="paid answer", usage=Usage(1000, 1000))

    def spent() -> float:
        return sum(float(shared.get(k) or 0) for k in shared.keys("omniroute:spend:user:carol:d:*"))

    answered = []
    for n, (instance, fmt) in enumerate(
        [(team.a, "openai-chat"), (team.b, "anthropic"), (team.c, "gemini")], start=1
    ):
        answered.append(call(instance.conn("carol"), fmt, "paid-m", stream=fmt != "gemini").text)
        wait_for(lambda n=n: spent() >= 0.2 * n - 1e-9, f"spend of answer {n} in the state")
    assert answered == ["paid answer"] * 3

    with pytest.raises(openai.RateLimitError) as on_a:
        call(team.a.conn("carol"), "openai-responses", "paid-m", stream=False)
    assert "user carol has spent $0.6000 of the budget of $0.50 per day" in str(on_a.value)
    assert "users.carol.usd_per_day" in str(on_a.value)
    assert on_a.value.response.headers["retry-after"].isdigit()
    with pytest.raises(anthropic.RateLimitError):
        call(team.b.conn("carol"), "anthropic", "paid-m", stream=True)
    with pytest.raises(genai_errors.ClientError) as on_c:
        call(team.c.conn("carol"), "gemini", "paid-m", stream=False)
    assert on_c.value.code == 429
    assert len(team.fake.model_calls()) == 3  # no provider call for the refused ones


# ------------------------------------------------------------------ the store


def test_a_previous_response_id_chain_crosses_instances(fresh):
    team = fresh
    a, b, c = (i.conn("alice").openai("openai-responses") for i in team.all)
    team.fake.script([Reply(text="Paris is sunny."), Reply(text="Rain tomorrow."),
                      Reply(text="Take an umbrella.")])  # fmt: skip
    first = a.responses.create(model="to-anthropic", input="Weather in Paris?")
    second = b.responses.create(model="to-gemini", input="And tomorrow?",
                                previous_response_id=first.id)  # fmt: skip
    third = c.responses.create(model="to-openai-chat", input="What should I bring?",
                               previous_response_id=second.id)  # fmt: skip
    assert third.output_text == "Take an umbrella."
    sent = json.dumps(team.fake.model_calls()[-1].body)
    for earlier in ("Weather in Paris?", "Paris is sunny.", "And tomorrow?", "Rain tomorrow."):
        assert earlier in sent  # C had A's and B's turns

    got = a.responses.retrieve(third.id)
    assert (got.previous_response_id, got.output_text) == (second.id, "Take an umbrella.")
    b.responses.delete(third.id)
    with psycopg.connect(team.store) as db:
        held = {r[0] for r in db.execute("SELECT id FROM responses").fetchall()}
    assert third.id not in held and {first.id, second.id} <= held
    with pytest.raises(openai.APIStatusError):  # gone for every instance
        c.responses.retrieve(third.id)


# ------------------------------------------------------------------ outages


def test_valkey_stopped_fails_no_request_and_sharing_resumes(fresh):
    team = fresh
    team.redis.stop()
    team.fake.default = Reply(text="answered without the shared state")
    for instance, fmt in zip(team.all, ("openai-chat", "anthropic", "gemini"), strict=True):
        for _ in range(2):
            got = call(instance.conn("alice"), fmt, "spare-m", stream=fmt != "gemini")
            assert got.text == "answered without the shared state"
    for instance in team.all:
        log = instance.mitm.output()
        assert log.count("shared state unreachable") == 1, instance.name
        assert "going on with this instance's memory" in log and "Traceback" not in log

    team.redis.start()
    for instance in team.all:
        wait_for(lambda i=instance: "sharing resumes" in i.mitm.output(),
                 f"{instance.name} to find the server again")  # fmt: skip
    team.fake.reset()
    team.fake.script([Reply(status=429, headers={"retry-after": "600"}), Reply(text="key 2")])
    assert call(team.c.conn("alice"), "openai-chat", "spare-m", stream=True).text == "key 2"
    assert keys_used(team.fake) == SPARE
    wait_for(lambda: cooled(team, "spare/m"), "C's cooldown in the restarted server")
    team.fake.reset()
    team.fake.default = Reply(text="shared again")
    for instance in (team.a, team.b):
        assert call(instance.conn("alice"), "anthropic", "spare-m", stream=True).text == (
            "shared again")  # fmt: skip
    assert keys_used(team.fake) == [SPARE[1], SPARE[1]]


@dataclass
class Traffic:
    """One user's streams through one instance, one after another, until told to stop."""

    instance: Instance
    user: str
    fmt: str
    done: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                got = call(self.instance.conn(self.user), self.fmt, f"to-{self.fmt}", stream=True)
            except Exception as exc:  # counted: the test says which and why
                self.failed.append(f"{type(exc).__name__}: {exc}")
                continue
            if got.text:
                self.done += 1

    def end(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(60)


def progress(traffic: list[Traffic], at_least: int = 2) -> None:
    """Each of ``traffic`` got ``at_least`` more complete answers (and none failed)."""
    marks = [t.done + at_least for t in traffic]
    wait_for(lambda: any(t.failed for t in traffic)
             or all(t.done >= m for t, m in zip(traffic, marks, strict=True)),
             f"{at_least} more answers through each instance", timeout=60)  # fmt: skip
    for t in traffic:
        assert not t.failed, f"{t.user} through {t.instance.name}: {t.failed[:3]}"


class SlowStream:
    """A long stream through one instance, read as it comes."""

    def __init__(self, conn: Conn) -> None:
        self.client = conn.openai("openai-chat")
        self.pieces: list[str] = []
        self.ending: str | None = None
        self.started, self.ended = threading.Event(), threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            stream = self.client.chat.completions.create(
                model="slow-m", stream=True, messages=[{"role": "user", "content": "long"}]
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    self.pieces.append(chunk.choices[0].delta.content)
                    self.started.set()
            self.ending = "complete"
        except Exception as exc:
            self.ending = type(exc).__name__
        finally:
            self.started.set()
            self.ended.set()


def test_kill_9_mid_stream_and_a_postgres_restart_lose_no_committed_row(fresh):
    """Traffic on all three instances while PostgreSQL restarts: every
    complete answer has its usage row, once. Then C is killed (-9, its
    engine too) in the middle of a stream: the rows it had committed are
    there, and the others' traffic goes on."""
    team = fresh
    team.fake.default = Reply(text="a complete answer", text_deltas=["a complete", " answer"])
    users = {"A": "ann", "B": "ben", "C": "cat"}
    traffic = [
        Traffic(i, users[i.name], fmt).start()
        for i, fmt in zip(team.all, ("openai-chat", "anthropic", "gemini"), strict=True)
    ]

    def rows_of(user: str) -> int:
        return sum(1 for u, status, _ in team.rows() if u == user and status == 200)

    progress(traffic)
    team.pg.stop()  # a restart of PostgreSQL during traffic
    for instance in team.all:  # each has rows to write meanwhile: they wait in its spool
        wait_for(lambda i=instance: "PostgreSQL unreachable" in i.mitm.output(),
                 f"{instance.name} to find PostgreSQL down")  # fmt: skip
    progress(traffic)  # (answered while it is down)
    team.pg.start()
    for instance in team.all:
        wait_for(lambda i=instance: "PostgreSQL is back" in i.mitm.output(),
                 f"{instance.name} to write its spool out")  # fmt: skip
    progress(traffic)

    cat = traffic.pop()
    cat.end()
    wait_for(lambda: rows_of("cat") == cat.done, "C's rows committed", timeout=60)
    team.slow.default = Reply(text_deltas=[f"w{n} " for n in range(CHUNKS)], delay_between=0.5)
    stream = SlowStream(team.c.conn("cat"))
    assert stream.started.wait(60) and stream.pieces, f"no stream to kill: {stream.ending}"
    engine, front = team.c.engine_pid(), team.c.mitm.proc
    assert engine is not None and front is not None
    for pid in (front.pid, engine):
        os.kill(pid, signal.SIGKILL)
    assert stream.ended.wait(60), "the client of the killed instance hangs"
    assert stream.ending != "complete" and len(stream.pieces) < CHUNKS

    progress(traffic)  # A and B go on
    for t in traffic:
        t.end()
    progress(traffic, 0)  # (none failed)
    for t in traffic:
        wait_for(lambda t=t: rows_of(t.user) >= t.done, f"{t.user}'s rows", timeout=60)
    assert [rows_of(t.user) for t in [*traffic, cat]] == [t.done for t in [*traffic, cat]]
