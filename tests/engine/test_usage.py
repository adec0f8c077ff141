"""The usage store end to end through the real engine (fake provider), and
the arithmetic: token classes, cost, overrides, a migration from v1."""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from fakeprovider import Reply, Usage
from fakeprovider.sdk import FORMATS
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.core.database import open_store
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER
from omniroute_mitm.engine.core.prices import Price, Tokens, cost, lookup
from omniroute_mitm.engine.record.usage import MIGRATIONS, V1, client_app, price_for

pytestmark = pytest.mark.anyio

BASE = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}
KEY = "sk-provider-key-never-stored-0123456789"


def config(fake_url: str, extra: str = ""):
    lines = ["providers:"]
    for fmt in FORMATS:
        lines.append(
            f"  p-{fmt}: {{format: {fmt}, base_url: '{fake_url}{BASE[fmt]}', keys: [{KEY}]}}"
        )
    lines.append(
        "  priced: {format: openai-chat, base_url: '" + fake_url + "/v1', keys: [" + KEY + "],"
        " price: {input: 2, output: 8, cache_read: 0.5}, prices: {special: {input: 1, output: 1}}}"
    )
    lines.append("routes:")
    for fmt in FORMATS:
        lines.append(f"  - {{match: {{model: via-{fmt}}}, to: p-{fmt}/claude-sonnet-4-5}}")
    lines.append("  - {match: {model: via-priced}, to: priced/gpt-x}")
    lines.append("  - {match: {model: via-special}, to: priced/special}")
    return parse_config("\n".join(lines) + extra, env={})


async def ask(harness, model: str, stream: bool, agent: str = "claude-cli/2.0.1 (external, cli)"):
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    resp = await harness.post(
        "/v1/chat/completions", body, headers={"user-agent": agent}
    )
    assert resp.status_code == 200, resp.text
    return resp


def rows(store) -> list[dict]:
    store.flush()
    return [dict(r) for r in store.read("SELECT * FROM requests ORDER BY id")]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_every_provider_format_gives_the_same_token_classes(
    start_engine, fake_provider, tmp_path, stream
):
    """OpenAI and Gemini count cached tokens inside the input, Anthropic
    outside; Gemini counts thoughts outside the output. Rows say one thing."""
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(config(fake_provider.url), store=store)
    for fmt in FORMATS:
        usage = Usage(120, 45, cached=20, reasoning=5)
        fake_provider.script([Reply(text="Hello there", usage=usage)])
        await ask(harness, f"via-{fmt}", stream)
    found = rows(store)
    assert [r["provider"] for r in found] == [f"p-{fmt}" for fmt in FORMATS]
    for r in found:
        classes = (r["input_tokens"], r["cache_read_tokens"], r["output_tokens"])
        assert classes == (100, 20, 45), r["provider"]
        if r["provider"] != "p-anthropic":  # Anthropic does not report thinking tokens apart
            assert r["reasoning_tokens"] == 5, r["provider"]
        assert r["estimated"] == 0 and r["client_app"] == "claude-cli"
        assert r["upstream_model"] == "claude-sonnet-4-5" and r["status"] == 200
        # claude-sonnet-4-5 from the snapshot: $3 in, $15 out, $0.30 cache read
        assert r["cost"] == pytest.approx((100 * 3 + 20 * 0.3 + 45 * 15) / 1e6)
        assert r["ttft_ms"] is not None and r["total_ms"] >= r["ttft_ms"]
    store.close()
    raw = (tmp_path / "u.sqlite").read_bytes() + _wal(tmp_path / "u.sqlite")
    assert KEY.encode() not in raw and b"sk-provider" not in raw  # never a key


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


async def test_config_price_overrides_and_key_hash(start_engine, fake_provider, tmp_path):
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(config(fake_provider.url), store=store)
    fake_provider.script([
        Reply(text="a", usage=Usage(1_000_000, 500_000, cached=400_000)),
        Reply(text="b", usage=Usage(1_000_000, 1_000_000)),
    ])  # fmt: skip
    await ask(harness, "via-priced", False, agent="OpenAI/Python 1.99.0")
    await ask(harness, "via-special", True, agent="curl/8")
    priced, special = rows(store)
    # provider price: 600k fresh x $2 + 400k cache read x $0.5 + 500k out x $8
    assert priced["cost"] == pytest.approx(1.2 + 0.2 + 4.0)
    assert special["cost"] == pytest.approx(1.0 + 1.0)  # the per-model price wins
    assert (priced["client_app"], special["client_app"]) == ("openai-sdk", "other")
    assert len(priced["key_id"]) == 10 and priced["key_id"] not in KEY
    store.close()


async def test_a_stream_without_usage_is_estimated(start_engine, fake_provider, tmp_path):
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(config(fake_provider.url), store=store)
    fake_provider.script([Reply(text="word " * 40, usage=Usage(0, 0))])
    await ask(harness, "via-openai-chat", True)
    (row,) = rows(store)
    assert row["estimated"] == 1 and row["output_tokens"] == 50  # 200 characters / 4
    store.close()


async def test_failed_and_fallback_rows(start_engine, fake_provider, tmp_path):
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    cfg = config(fake_provider.url, "\ncombos:\n  two: {targets: [p-anthropic/a, p-gemini/b]}\n")
    harness = start_engine(cfg, store=store)
    fake_provider.script([Reply(status=429), Reply(text="ok")])
    await ask(harness, "two", False)
    fake_provider.script([Reply(status=400, error_message="bad thing")] * 2)
    body = {"model": "via-anthropic", "messages": [{"role": "user", "content": "x"}]}
    resp = await harness.post("/v1/chat/completions", body)
    assert resp.status_code == 400
    fell_back, failed = rows(store)
    assert fell_back["fallbacks"] == "p-anthropic/a: 429" and fell_back["attempt"] == 2
    assert fell_back["provider"] == "p-gemini" and fell_back["target"] == "two"
    assert failed["status"] == 400 and failed["error_class"] == "invalid_request"
    assert "bad thing" in failed["error"] and failed["cost"] is None
    store.close()


async def test_the_front_reads_a_record_by_id(start_engine, fake_provider, tmp_path):
    harness = start_engine(config(fake_provider.url))
    fake_provider.script([Reply(text="hi", usage=Usage(120, 45, cached=20))])
    resp = await ask(harness, "via-anthropic", True)
    record_id = resp.headers["x-omniroute-id"]
    got = await harness.client.get(f"/omniroute/records/{record_id}", headers=harness.headers())
    assert got.json()["summary"] == "[100 in + 20 cache read + 0 cache write / 45 out, $0.000981]"
    refused = await harness.client.get(f"/omniroute/records/{record_id}")
    assert refused.status_code == 403  # only the front (its secret) reads records


# ----------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("price", "tokens", "dollars"),
    [
        # Anthropic: cache write 1.25x, cache read 0.1x of input
        (Price(3, 15, 0.3, 3.75), Tokens(1000, 2000, 10_000, 4000), 0.003 + 0.03 + 0.003 + 0.015),
        # no cache prices: cached input at the input rate; reasoning at the output rate
        (Price(1, 4), Tokens(input=500, output=1500, cache_read=500, reasoning=1000), 0.007),
        # reasoning priced apart
        (Price(1, 4, reasoning=10), Tokens(output=1500, reasoning=1000), 0.012),
        # long-context tier applies above 200k prompt tokens (cache included)
        (
            Price(1.25, 10, 0.125, tiers=((200_000, Price(2.5, 15, 0.25)),)),
            Tokens(input=150_000, cache_read=60_000, output=1000),
            (150_000 * 2.5 + 60_000 * 0.25 + 1000 * 15) / 1e6,
        ),
    ],
)
def test_cost_uses_each_class_at_its_rate(price, tokens, dollars):
    assert cost(price, tokens) == pytest.approx(dollars)


def test_snapshot_lookups():
    sonnet = lookup("anthropic", "claude-sonnet-4-5-20250929")
    assert sonnet is not None and sonnet.price is not None
    assert (sonnet.price.input, sonnet.price.cache_write) == (3.0, 3.75)
    assert (sonnet.context_window, sonnet.max_output) == (200_000, 64_000)
    gemini = lookup("gemini", "models/gemini-2.5-pro")
    assert gemini is not None and gemini.price is not None
    assert [above for above, _ in gemini.price.tiers] == [200_000]
    assert lookup(None, "gpt-5") is not None  # a bare name: the first-party providers
    assert lookup("openai", "no-such-model-x") is None


def test_native_is_priced_by_its_host():
    cfg = parse_config("routes: []", env={})
    price = price_for(cfg, "native/anthropic", "claude-sonnet-4-5")
    assert price is not None and price.output == 15.0
    assert price_for(cfg, "native/unknown", "claude-sonnet-4-5") is None


@pytest.mark.parametrize(
    ("agent", "app"),
    [
        ("claude-cli/2.0.14 (external, cli)", "claude-cli"),
        ("codex_cli_rs/0.46.0 (Debian 12; x86_64)", "codex"),
        ("GeminiCLI/0.9.0 (linux; x64)", "gemini-cli"),
        ("QwenCode/0.24.4 (linux; x64)", "qwen-code"),
        ("opencode/1.18.33 ai-sdk/provider-utils/4.0.46 runtime/bun/1.3.14", "opencode"),
        ("litellm/1.81.10", "litellm"),
        ("Anthropic/Python 0.69.0", "anthropic-sdk"),
        ("google-genai-sdk/1.40.0 gl-python/3.13.0", "google-genai-sdk"),
        ("Mozilla/5.0", "other"),
        (None, "other"),
    ],
)
def test_client_app(agent, app):
    assert client_app(agent) == app


def test_a_v1_database_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as conn:  # what the first release wrote
        conn.executescript(
            V1 + ";CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER)"
        )
        conn.execute("INSERT INTO schema_version VALUES ('usage', 1)")
        conn.execute(
            "INSERT INTO requests (time, client_format, client_app, kind, stream, requested_model,"
            " route, target, attempt, fallbacks, provider, upstream_model, key_id, native, status,"
            " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"
            " estimated, cost) VALUES (1, 'anthropic', 'claude-cli', 'generate', 1, 'm', 'r', 't',"
            " 1, '', 'p', 'm', 'k', 0, 200, 10, 20, 0, 0, 0, 0, 0.5)"
        )
        conn.commit()
    from omniroute_mitm.engine.record.usage import UsageLog

    log = UsageLog(open_store(f"sqlite:///{path}"))
    assert log.store.version("usage") == len(MIGRATIONS)
    (row,) = log.store.read('SELECT cost, quota_window, cache_write_1h_tokens, client_endpoint, '
                            '"user", "group", web_searches FROM requests')
    assert tuple(row) == (0.5, None, 0, None, None, None, 0)
    log.close()


async def test_the_price_data_caps_max_tokens_at_the_models_output_limit(
    start_engine, fake_provider
):
    """deepseek-chat answers at most 8192 tokens (LiteLLM's map): Claude Code's
    64000 would be refused; no max_tokens in config.yaml is needed."""
    cfg = parse_config(
        f"providers:\n  ds: {{format: openai-chat, base_url: '{fake_provider.url}/v1'}}\n"
        "routes:\n  - {match: {model: big}, to: ds/deepseek-chat}\n"
        "  - {match: {model: unknown}, to: ds/some-local-model}\n",
        env={},
    )
    harness = start_engine(cfg)
    for model in ("big", "unknown"):
        body = {"model": model, "max_tokens": 64000, "messages": [{"role": "user", "content": "x"}]}
        assert (await harness.post("/v1/messages", body)).status_code == 200
    capped, untouched = fake_provider.model_calls()[-2:]
    assert capped.body["max_tokens"] == 8192
    assert untouched.body["max_tokens"] == 64000  # a model the data does not know: as asked


def test_context_windows_come_from_the_price_data():
    from omniroute_mitm.engine.core.prices import context_window

    assert context_window("https://api.deepseek.com/v1", "deepseek-chat") == 131072
    assert context_window("http://127.0.0.1:1/v1", "gemini-2.5-pro") == 1048576  # first party
    assert context_window("http://127.0.0.1:1/v1", "my-local-llama") is None


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_native_calls_are_rows_with_their_usage_and_quota(
    start_engine, fake_provider, tmp_path, stream
):
    """The user's own subscription: bytes untouched, usage read on the side,
    the 5-hour window's headers kept, the client's key only as a hash."""
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(parse_config("routes: []", env={}), store=store)
    quota = {"anthropic-ratelimit-unified-5h-utilization": "0.42",
             "anthropic-ratelimit-unified-5h-reset": "1893456000"}  # fmt: skip
    fake_provider.script([Reply(text="mine", usage=Usage(500, 60, cached=400), headers=quota)])
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    client_key = "sk-ant-oat01-the-users-own-subscription-token"
    resp = await harness.post("/v1/messages", body, headers={
        ORIGINAL_URL_HEADER: f"{fake_provider.url}/v1/messages", "x-api-key": client_key})
    assert resp.status_code == 200
    (row,) = rows(store)
    assert (row["native"], row["provider"], row["target"]) == (1, "native/unknown", "native")
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (100, 400, 60)
    assert row["estimated"] == 0
    assert (row["quota_window"], row["quota_used"], row["quota_reset"]) == (
        "unified-5h", 0.42, 1893456000)
    assert "anthropic-ratelimit-unified-5h-utilization: 0.42" in row["quota_headers"]
    store.close()
    raw = (tmp_path / "u.sqlite").read_bytes() + _wal(tmp_path / "u.sqlite")
    assert client_key.encode() not in raw


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_the_request_log_keeps_four_sections_without_keys(
    start_engine, fake_provider, tmp_path, stream
):
    from omniroute_mitm.engine.record.reqlog import RequestLog

    folder = tmp_path / "requests"
    harness = start_engine(config(fake_provider.url), request_log=RequestLog(folder, cap=1500))
    fake_provider.script([Reply(text="logged answer " * 150)])
    body = {"model": "via-anthropic", "stream": stream,
            "messages": [{"role": "user", "content": "q"}]}  # fmt: skip
    client_key = "sk-client-own-key-0987654321"
    resp = await harness.post("/v1/chat/completions", body,
                              headers={"authorization": f"Bearer {client_key}"})  # fmt: skip
    assert resp.status_code == 200
    (file,) = folder.glob("*.log")
    text = file.read_text()
    titles = [line for line in text.splitlines() if line.startswith("=====")]
    assert titles == [
        "===== client request =====",
        "===== upstream request (p-anthropic/claude-sonnet-4-5) =====",
        "===== upstream response (p-anthropic/claude-sonnet-4-5) =====",
        "===== client response =====",
    ]
    assert "POST http://127.0.0.1" in text and "HTTP 200" in text and '"messages"' in text
    assert "answer" in text.split("===== client response =====")[1]
    assert KEY not in text and client_key not in text and "x-api-key: ***" in text
    assert "cut at 1500]" in text  # each section capped
    assert (file.stat().st_mode & 0o777) == 0o600


def test_the_request_log_rotates(tmp_path):
    from omniroute_mitm.engine.record.reqlog import RequestLog

    logs = RequestLog(tmp_path, keep=3)
    for n in range(5):
        entry = logs.start(n, str)
        entry.head("client request", f"POST /{n}", [("authorization", "Bearer sk-x")])
        entry.close()
    kept = sorted(p.read_text().split("\n")[1] for p in tmp_path.glob("*.log"))
    assert kept == ["POST /2", "POST /3", "POST /4"]  # the newest three


@pytest.mark.parametrize("target_exists", [True, False])
def test_the_request_log_never_follows_a_planted_symlink(tmp_path, caplog, target_exists):
    """Someone who can write in the folder plants a symlink at the next file's
    name: the log neither overwrites nor creates what it points at."""
    from omniroute_mitm.engine.record.reqlog import RequestLog

    victim = tmp_path / "victim"
    if target_exists:
        victim.write_text("keep me")
    entry = RequestLog(tmp_path / "requests").start(1, str)
    entry.path.symlink_to(victim)
    entry.head("client request", "POST /v1/messages", [])
    entry.body("client request", b"a private prompt")
    with caplog.at_level("WARNING"):
        entry.close()
    assert entry.path.is_symlink()
    if target_exists:
        assert victim.read_text() == "keep me"
    else:
        assert not victim.exists()
    assert f"request log {entry.path.name}" in caplog.text


def test_the_request_log_folder_is_private_whatever_the_umask(tmp_path):
    from omniroute_mitm.engine.record.reqlog import RequestLog

    old = os.umask(0)
    try:
        logs = RequestLog(tmp_path / "data" / "requests")
        entry = logs.start(1, str)
        entry.close()
    finally:
        os.umask(old)
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert logs.folder.stat().st_mode & 0o777 == 0o700
    assert entry.path.stat().st_mode & 0o777 == 0o600


# Recorded provider answers (../shared/fixtures): the store's classes, by hand
# from each provider's documented arithmetic.
RECORDED = [
    # Anthropic: input_tokens already excludes the cache
    ("anthropic", "anthropic/message-cache-read.json", (12, 4167, 0, 350, 0)),
    ("anthropic", "anthropic/stream-cache-creation.sse", None),
    # OpenAI chat: prompt_tokens 3663 includes cached 3584
    ("openai-chat", "openai-chat/completion-cached-tokens.json", (79, 3584, 0, 117, 0)),
    # Responses: input_tokens 4020 includes cached 4012
    ("openai-responses", "openai-responses/response-cached-tokens.json", (8, 4012, 0, 5, 0)),
    # Gemini: promptTokenCount 3520 includes cached 3512; thoughts 42 outside candidates 2
    ("gemini", "gemini/generate-cached-content.json", (8, 3512, 0, 44, 42)),
]


@pytest.mark.parametrize(("fmt", "path", "classes"), RECORDED)
def test_recorded_usage_has_one_meaning(fmt, path, classes):
    from omniroute_mitm.engine.record.usage import tokens_of
    from omniroute_mitm.engine.stream.tap import UsageTap

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "translators"))
    from shared_fixtures import FIXTURES

    file = FIXTURES / path
    if not file.exists():
        pytest.skip("../shared/fixtures not present")
    tap = UsageTap(fmt, stream=path.endswith(".sse"))
    tap.feed(file.read_bytes())
    usage = tap.finish()
    assert usage is not None
    t = tokens_of(usage)
    if classes is None:  # a cache write: Anthropic's message_start says 1165 written
        raw = file.read_text()
        assert '"cache_creation_input_tokens":1165' in raw.replace(" ", "")
        assert t.cache_write == 1165 and t.cache_read == 0
        return
    assert (t.input, t.cache_read, t.cache_write, t.output, t.reasoning) == classes
