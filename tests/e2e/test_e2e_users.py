"""Proxy users end to end: a real mitmdump with ``--set proxyauth=@htpasswd``,
official SDK clients with credentials in their proxy URL
(``http://alice:pw@127.0.0.1:PORT``), the fake provider behind.

Who called lands in the usage rows, the flow comment, the log, the status
page and the dashboard; a client cannot claim another user with a header;
config.yaml's allow/deny lists, budgets and rate limits answer in each
client's own format before any provider call."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import anthropic
import bcrypt
import httpx
import openai
import pytest
from e2e_harness import ROOT, client_ssl_context, e2e_config, start_mitmdump
from fakeprovider import Reply, Usage
from fakeprovider.sdk import Conn, call
from google.genai import errors as genai_errors
from omniroute_mitm.engine.ops.doctor import Context, run
from omniroute_mitm.engine.ops.doctor.proxy_check import check_proxy

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).resolve().parent / "flow_probe.py"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dan": "dan-pw"}
PRICE = {"input": 100.0, "output": 100.0}  # $ per million: 2,000 tokens cost $0.20
RPM = 2


def htpasswd(path: Path) -> Path:
    lines = [f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}"
             for user, pw in PASSWORDS.items()]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider):
    tmp = tmp_path_factory.mktemp("users")
    config = e2e_config(
        e2e_provider.port,
        extra_providers={"paid": {"format": "openai-chat", "keys": ["pk-openai-chat-injected"],
                                  "base_url": f"http://127.0.0.1:{e2e_provider.port}/v1",
                                  "price": PRICE}},
        extra_routes=[{"match": {"model": "paid-*"}, "to": "paid/upstream-paid"}],
    )  # fmt: skip
    config["groups"] = {"dev": {"deny": ["secret-*"]}}
    config["users"] = {
        "alice": {"group": "dev"},
        "bob": {"group": "dev"},
        "carol": {"usd_per_day": 0.5},
        "dan": {"requests_per_minute": RPM},
    }
    proc = start_mitmdump(tmp, ca_dir, config, "--set", f"proxyauth=@{htpasswd(tmp / 'users')}",
                          "-s", str(PROBE), "--set", f"flow_probe_file={tmp / 'flows.jsonl'}")
    proc.tmp = tmp
    yield proc
    proc.stop()
    assert not proc.blocked()
    assert not any(pw in proc.output() for pw in PASSWORDS.values()), "a password in the log"


def proxy(mitm, user: str, password: str | None = None) -> str:
    return f"http://{user}:{password or PASSWORDS[user]}@127.0.0.1:{mitm.port}"


@pytest.fixture(scope="module")
def conns(mitm):
    made: dict[str, Conn] = {}

    def conn(user: str, **kw) -> Conn:
        if user not in made:
            made[user] = Conn(proxy=proxy(mitm, user), verify=client_ssl_context(mitm.confdir),
                              api_key="sk-client-secret-do-not-forward", **kw)
        return made[user]

    yield conn
    for c in made.values():
        c.close()


def usage(mitm, *args: str) -> list[dict]:
    out = subprocess.run(
        [str(ROOT / "scripts/usage"), "--data-dir", str(mitm.confdir / "data"), "--json", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def rows_of(mitm, user: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (mitm.confdir / "data" / "omniroute.sqlite").exists():
            found = usage(mitm, "--rows", "--user", user)
            if len(found) >= count:
                return found
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} rows of {user} after 20 s")


def flows(mitm) -> list[dict]:
    probe = mitm.tmp / "flows.jsonl"
    return [json.loads(x) for x in probe.read_text().splitlines()] if probe.exists() else []


def test_the_user_is_in_rows_comment_log_status_and_dashboard(conns, fake, mitm):
    alice = conns("alice")
    assert call(alice, "openai-chat", "to-openai-chat", stream=True).text
    assert call(alice, "anthropic", "to-anthropic", stream=False).text
    rows = rows_of(mitm, "alice", 2)
    assert {(r["user"], r["group"]) for r in rows} == {("alice", "dev")}
    by_user = {g["user"]: g for g in usage(mitm, "--by", "user")}
    assert by_user["alice"]["requests"] == 2
    assert {g["group"] for g in usage(mitm, "--by", "group")} >= {"dev"}
    deadline = time.monotonic() + 10
    while not any("(user alice)" in (f["comment"] or "") for f in flows(mitm)):
        assert time.monotonic() < deadline, "no flow comment names the user"
        time.sleep(0.05)
    assert any("user alice: to-openai-chat -> fake-openai-chat" in line
               for line in mitm.lines)  # fmt: skip
    with alice.raw() as web:
        status = web.get("http://omniroute/status").json()
        page = web.get("http://omniroute/").text
    assert status["users"]["alice"]["group"] == "dev"
    assert status["users"]["carol"]["usd_per_day"] == 0.5
    assert "Spend per user and group" in page and "<td>alice</td>" in page


def test_a_header_claiming_another_user_is_ignored(conns, fake, mitm):
    bob = conns("bob")
    client = bob.openai("openai-chat")
    done = client.chat.completions.create(
        model="to-openai-chat", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-omniroute-user": "carol", "X-Omniroute-User": "dan",
                       "x-omniroute-secret": "guess"},
    )  # fmt: skip
    assert done.choices[0].message.content
    (row,) = rows_of(mitm, "bob", 1)
    assert row["user"] == "bob"
    assert not usage(mitm, "--rows", "--user", "carol")  # (carol sent nothing yet)
    assert all("x-omniroute" not in k.lower() for r in fake.model_calls() for k in r.headers)


@pytest.mark.parametrize("fmt", ["openai-chat", "openai-responses", "anthropic", "gemini"])
def test_a_denied_model_is_a_403_in_each_format_and_no_provider_call(conns, fake, mitm, fmt):
    errors = {"openai-chat": openai.PermissionDeniedError,
              "openai-responses": openai.PermissionDeniedError,
              "anthropic": anthropic.PermissionDeniedError,
              "gemini": genai_errors.ClientError}  # fmt: skip
    before = len(fake.model_calls())
    with pytest.raises(errors[fmt]) as info:
        call(conns("alice"), fmt, "secret-model", stream=fmt != "gemini")
    assert "groups.dev.deny has 'secret-*'" in str(info.value)
    if fmt == "gemini":
        assert info.value.code == 403  # type: ignore[attr-defined]
    assert len(fake.model_calls()) == before


def test_a_budget_is_held_the_crossing_request_is_the_last(conns, fake, mitm):
    fake.default = Reply(text="paid answer", usage=Usage(1000, 1000))  # $0.20 each
    client = conns("carol").openai("openai-chat")
    answered = 0
    with pytest.raises(openai.RateLimitError) as info:
        for _ in range(5):
            client.chat.completions.create(model="paid-model",
                                           messages=[{"role": "user", "content": "hi"}])
            answered += 1
            rows_of(mitm, "carol", answered)  # its cost is recorded before the next one
    assert answered == 3  # $0, $0.20, $0.40 spent before each: the third crosses $0.50
    message = str(info.value)
    assert "user carol has spent $0.6000 of the budget of $0.50 per day" in message
    assert "users.carol.usd_per_day" in message
    assert info.value.response.headers["retry-after"].isdigit()
    assert len([c for c in fake.model_calls() if c.path.endswith("/chat/completions")]) >= 3
    rows = rows_of(mitm, "carol", 4)
    assert [r["status"] for r in rows] == [200, 200, 200, 429]


def test_a_rate_limit_is_a_429_with_retry_after(conns, fake, mitm):
    client = conns("dan").anthropic()
    refused = None
    for _ in range(2 * RPM + 1):  # within a minute (or two): one window has RPM + 1
        try:
            client.messages.create(model="to-anthropic", max_tokens=20,
                                   messages=[{"role": "user", "content": "hi"}])
        except anthropic.RateLimitError as exc:
            refused = exc
            break
    assert refused is not None
    assert f"the limit is {RPM} (users.dan.requests_per_minute)" in str(refused)
    assert 1 <= int(refused.response.headers["retry-after"]) <= 60


def test_the_doctor_recognizes_a_proxy_with_proxyauth(mitm):
    out: list[str] = []
    run(Context(port=mitm.port, timeout=5), [check_proxy], out.append)
    assert out[0] == (f"ok      proxy: a proxy asking for proxy credentials answers at "
                      f"127.0.0.1:{mitm.port} (proxyauth: clients use "
                      "HTTPS_PROXY=http://USER:PASSWORD@host:port)")  # fmt: skip


def test_a_wrong_proxy_password_gets_407(mitm):
    with httpx.Client(proxy=proxy(mitm, "alice", "wrong"), timeout=10) as web:
        answer = web.get("http://omniroute/status")
    assert answer.status_code == 407
    with httpx.Client(proxy=f"http://127.0.0.1:{mitm.port}", timeout=10) as web:
        assert web.get("http://omniroute/status").status_code == 407  # no credentials at all
    verify = client_ssl_context(mitm.confdir)
    with httpx.Client(proxy=proxy(mitm, "alice", "wrong"), verify=verify, timeout=10) as web:
        with pytest.raises(httpx.ProxyError, match="407"):
            web.post("https://api.openai.com/v1/chat/completions", json={})
