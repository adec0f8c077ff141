"""The store on PostgreSQL end to end: two real mitmdumps with
``omniroute_store=postgresql://...`` on one real server, the official openai
SDK through each. A Responses chain crosses the instances, usage rows of
both land in PostgreSQL, ``omniroute-usage --store URL`` reads them, and
no key is in the database."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import openai
import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    ROOT,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    provider_key,
    start_mitmdump,
)
from fakeprovider import Reply
from fakeprovider.sdk import Conn

pytestmark = pytest.mark.e2e
psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (the test extra has it)")


@pytest.fixture(scope="module")
def store_url(postgres_server) -> str:
    return postgres_server.url(postgres_server.create_database())


def _start(tmp_path_factory, ca_dir, e2e_provider, url: str, name: str) -> Mitmdump:
    return start_mitmdump(tmp_path_factory.mktemp(name), ca_dir, e2e_config(e2e_provider.port),
                          "--set", f"omniroute_store={url}")  # fmt: skip


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider, store_url) -> Iterator[Mitmdump]:
    proc = _start(tmp_path_factory, ca_dir, e2e_provider, store_url, "pg-a")
    yield proc
    proc.stop()
    assert not proc.blocked()


@pytest.fixture(scope="module")
def mitm_b(tmp_path_factory, ca_dir, e2e_provider, store_url) -> Iterator[Mitmdump]:
    proc = _start(tmp_path_factory, ca_dir, e2e_provider, store_url, "pg-b")
    yield proc
    proc.stop()
    assert not proc.blocked()


@pytest.fixture(scope="module")
def conn_b(mitm_b: Mitmdump) -> Iterator[Conn]:
    with Conn(proxy=mitm_b.url, verify=client_ssl_context(mitm_b.confdir),
              api_key=CLIENT_KEY) as c:  # fmt: skip
        yield c


def usage_rows(mitm: Mitmdump, url: str) -> list[dict]:
    out = subprocess.run(
        [str(ROOT / "scripts/usage"), "--data-dir", str(mitm.confdir / "data"), "--store", url,
         "--all", "--rows", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return list(json.loads(out.stdout))


def test_a_chain_crosses_instances_and_usage_lands_in_postgresql(
    conn, conn_b, fake, mitm, mitm_b, store_url
):
    a, b = conn.openai("openai-responses"), conn_b.openai("openai-responses")
    fake.script([Reply(text="Paris is sunny."), Reply(text="Rain tomorrow.")])
    first = a.responses.create(model="to-anthropic", input="Weather in Paris?")
    second = b.responses.create(model="to-gemini", input="And tomorrow?",
                                previous_response_id=first.id)  # fmt: skip
    assert second.output_text == "Rain tomorrow."
    sent = json.dumps(fake.model_calls()[-1].body)
    assert "Weather in Paris?" in sent and "Paris is sunny." in sent  # B had A's turn

    assert a.responses.retrieve(second.id).previous_response_id == first.id
    b.responses.delete(second.id)
    with psycopg.connect(store_url) as db:  # gone before B answered the delete
        assert db.execute("SELECT id FROM responses").fetchall() == [(first.id,)]
    with pytest.raises(openai.APIStatusError):  # not held: A asks OpenAI itself (offline here)
        a.responses.retrieve(second.id)

    deadline = time.monotonic() + 30
    while len(rows := usage_rows(mitm, store_url)) < 2:  # usage rows are written in batches
        assert time.monotonic() < deadline, f"usage rows in PostgreSQL: {rows}"
        time.sleep(0.2)
    assert sorted(r["provider"] for r in rows) == ["fake-anthropic", "fake-gemini"]
    assert {r["key_id"] for r in rows}.isdisjoint({CLIENT_KEY, *map(provider_key, FORMATS)})
    assert not (mitm.confdir / "data" / "omniroute.sqlite").exists()  # nothing local

    with psycopg.connect(store_url) as db:
        dump = json.dumps([db.execute(f"SELECT * FROM {t}").fetchall()
                           for t in ("requests", "responses")], default=str)  # fmt: skip
    assert "Paris is sunny." in dump  # the stored response is there...
    leaked = [k for k in (CLIENT_KEY, *map(provider_key, FORMATS)) if k in dump]
    assert not leaked, f"keys in PostgreSQL: {leaked}"  # ...and no key
