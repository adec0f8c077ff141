"""Token classes priced apart: Anthropic's one-hour cache writes and
long-context price tiers (several per model), from the recorded answers in
../shared/fixtures, the shipped snapshot and a stream through the engine."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from fakeprovider import Reply, Usage
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.core.database import open_store
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER
from omniroute_mitm.engine.core.prices import Price, Tokens, build_snapshot, cost, lookup
from omniroute_mitm.engine.ops import usage_cli
from omniroute_mitm.engine.record.usage import price_for, tokens_of
from omniroute_mitm.engine.stream.tap import UsageTap

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "translators"))
from shared_fixtures import FIXTURES  # noqa: E402

pytestmark = pytest.mark.anyio

SONNET = lookup("anthropic", "claude-sonnet-4-5")
# Recorded Anthropic answers whose usage has the cache_creation breakdown.
RECORDED = sorted(
    p.relative_to(FIXTURES).as_posix()
    for p in (FIXTURES / "anthropic").glob("*")
    if "ephemeral_1h_input_tokens" in p.read_text(encoding="utf-8")
) if (FIXTURES / "anthropic").is_dir() else []  # fmt: skip


def _usage_of(body: bytes, stream: bool):
    tap = UsageTap("anthropic", stream=stream)
    tap.feed(body)
    usage = tap.finish()
    assert usage is not None
    return usage


def test_the_snapshot_prices_one_hour_writes_apart():
    assert SONNET is not None and SONNET.price is not None
    # LiteLLM 1.106.2: $3.75 per million 5-minute writes, $6 per million 1-hour writes
    assert (SONNET.price.cache_write, SONNET.price.cache_write_1h) == (3.75, 6.0)


@pytest.mark.skipif(not RECORDED, reason="../shared/fixtures not present")
@pytest.mark.parametrize("path", RECORDED or ["-"])
def test_recorded_anthropic_answers_carry_their_one_hour_writes(path):
    """The recordings all say 0 one-hour writes: every write stays at the
    5-minute rate (message-web-search-citations writes 8239 with a 0/0
    breakdown: still 8239 writes, none of them 1h)."""
    raw = (FIXTURES / path).read_bytes()
    t = tokens_of(_usage_of(raw, path.endswith(".sse")))
    written = max(int(n) for n in _field(raw, b'"cache_creation_input_tokens":'))
    assert (t.cache_write, t.cache_write_1h) == (written, 0)


def _field(raw: bytes, name: bytes) -> list[bytes]:
    text = raw.replace(b" ", b"").replace(b"\n", b"")
    return [part.split(b",")[0].split(b"}")[0] for part in text.split(name)[1:]]


def test_a_recorded_answer_with_one_hour_writes_is_priced_at_the_hour_rate():
    """message-web-search-citations.json (2081 in, 28289 cache read, 8239
    written, 561 out), its breakdown set to 239 five-minute + 8000 one-hour."""
    file = FIXTURES / "anthropic/message-web-search-citations.json"
    if not file.exists():
        pytest.skip("../shared/fixtures not present")
    body = json.loads(file.read_bytes())
    assert SONNET is not None and SONNET.price is not None
    as_recorded = tokens_of(_usage_of(json.dumps(body).encode(), stream=False))
    searches = 3 * 10 / 1000  # its three web searches at $10 per 1,000
    five_min = (2081 * 3 + 28289 * 0.3 + 8239 * 3.75 + 561 * 15) / 1e6 + searches
    assert cost(SONNET.price, as_recorded) == pytest.approx(five_min)
    body["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 239,
                                       "ephemeral_1h_input_tokens": 8000}  # fmt: skip
    hour = tokens_of(_usage_of(json.dumps(body).encode(), stream=False))
    assert (hour.input, hour.cache_read, hour.cache_write, hour.cache_write_1h) == (
        2081, 28289, 8239, 8000)
    expected = (2081 * 3 + 28289 * 0.3 + 239 * 3.75 + 8000 * 6 + 561 * 15) / 1e6 + searches
    assert cost(SONNET.price, hour) == pytest.approx(expected)


def _config(fake_url: str, extra: str = ""):
    return parse_config(
        "providers:\n"
        f"  ant: {{format: anthropic, base_url: '{fake_url}/v1', keys: [sk-a]}}\n"
        f"  own: {{format: anthropic, base_url: '{fake_url}/v1', keys: [sk-a],"
        " price: {input: 1, output: 2, cache_write: 10, cache_write_1h: 20}}\n"
        "routes:\n  - {match: {model: sonnet}, to: ant/claude-sonnet-4-5}\n"
        "  - {match: {model: mine}, to: own/m}\n" + extra,
        env={},
    )


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
async def test_a_stream_with_one_hour_writes_is_a_row_at_its_own_rate(
    start_engine, fake_provider, tmp_path, client
):
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(_config(fake_provider.url), store=store)
    usage = Usage(input=10_000, output=100, cached=2000, written=5000, written_1h=3000)
    fake_provider.script([Reply(text="cached", usage=usage)] * 2)
    for model in ("sonnet", "mine"):
        body = {"model": model, "stream": True, "max_tokens": 200,
                "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
        path = "/v1/messages" if client == "anthropic" else "/v1/chat/completions"
        resp = await harness.post(path, body)
        assert resp.status_code == 200
        if client == "anthropic":  # the client sees the split too
            assert '"ephemeral_1h_input_tokens":3000' in resp.text.replace(" ", "")
    last = await harness.client.get(
        f"/omniroute/records/{resp.headers['x-omniroute-id']}", headers=harness.headers())
    assert last.json()["summary"] == (
        "[3000 in + 2000 cache read + 5000 cache write (3000 1h) / 100 out, $0.0852]")
    store.flush()
    sonnet, mine = (dict(r) for r in store.read("SELECT * FROM requests ORDER BY id"))
    for row in (sonnet, mine):
        classes = ("input_tokens", "cache_read_tokens", "cache_write_tokens",
                   "cache_write_1h_tokens", "output_tokens")  # fmt: skip
        assert tuple(row[c] for c in classes) == (3000, 2000, 5000, 3000, 100)
    # snapshot: $3 in, $0.30 cache read, $3.75 5-minute writes, $6 one-hour writes, $15 out
    assert sonnet["cost"] == pytest.approx(
        (3000 * 3 + 2000 * 0.3 + 2000 * 3.75 + 3000 * 6 + 100 * 15) / 1e6)
    # config.yaml's price: cache_write_1h 20; cache reads at the input rate
    assert mine["cost"] == pytest.approx((3000 + 2000 + 2000 * 10 + 3000 * 20 + 100 * 2) / 1e6)
    store.close()
    out = io.StringIO()  # the report has the column
    assert usage_cli.main(["--data-dir", str(tmp_path), "--store", "sqlite:///u.sqlite",
                           "--all", "--by", "provider", "--json"], out=out) == 0  # fmt: skip
    assert {g["provider"]: g["cache_write_1h_tokens"] for g in json.loads(out.getvalue())} == {
        "ant": 3000, "own": 3000}
    out = io.StringIO()
    usage_cli.main(["--data-dir", str(tmp_path), "--store", "sqlite:///u.sqlite", "--all"], out=out)
    assert "of which 1h" in out.getvalue() and "6,000" in out.getvalue()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_native_answers_keep_their_one_hour_writes(start_engine, fake_provider, tmp_path,
                                                         stream):  # fmt: skip
    """Claude Code on its own subscription caches for an hour: the answer
    passes untouched, the row has the split read on the side."""
    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(parse_config("routes: []", env={}), store=store)
    usage = Usage(input=9000, output=60, cached=4000, written=3000, written_1h=2500)
    fake_provider.script([Reply(text="mine", usage=usage)])
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    resp = await harness.post("/v1/messages", body, headers={
        ORIGINAL_URL_HEADER: f"{fake_provider.url}/v1/messages", "x-api-key": "sk-ant-own"})
    assert resp.status_code == 200
    store.flush()
    (row,) = (dict(r) for r in store.read("SELECT * FROM requests"))
    assert row["native"] == 1 and (row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (
        3000, 2500)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (2000, 4000)
    store.close()


def test_one_hour_writes_fall_back_to_the_cache_write_rate():
    tokens = Tokens(input=100, cache_write=1000, cache_write_1h=400, output=10)
    assert cost(Price(1, 2, cache_write=5), tokens) == pytest.approx((100 + 5000 + 20) / 1e6)
    assert cost(Price(1, 2), tokens) == pytest.approx((100 + 1000 + 20) / 1e6)  # input rate
    cfg = parse_config(
        "providers:\n  p: {format: anthropic, base_url: 'http://127.0.0.1:1',"
        " price: {input: 1, output: 2, cache_write_1h: 7}}\nroutes: []", env={})
    price = price_for(cfg, "p", "any")
    assert price is not None and price.cache_write_1h == 7


def test_a_reloaded_configs_price_applies_to_the_next_request():
    """Prices are looked up once per config: an edit of config.yaml (a new
    config) prices the next request at the new rate, a model of its own."""

    def config(rate: int) -> str:
        return (
            "providers:\n  p: {format: anthropic, base_url: 'http://127.0.0.1:1',"
            f" price: {{input: {rate}, output: 2}}, prices: {{m2: {{input: 9, output: 9}}}}}}"
            "\nroutes: []"
        )

    first, second = parse_config(config(1), env={}), parse_config(config(3), env={})
    for _ in range(2):
        assert price_for(first, "p", "m").input == 1
        assert price_for(second, "p", "m").input == 3
        assert price_for(second, "p", "m2").input == 9
        assert price_for(first, "elsewhere", "m") is None
    for rate in range(4, 20):  # many reloads: each new config its own price
        assert price_for(parse_config(config(rate), env={}), "p", "m").input == rate


# ------------------------------------------------------------------- tiers

QWEN = lookup("dashscope", "qwen3-coder-plus")


@pytest.mark.parametrize(
    ("prompt", "rates"),
    [
        # LiteLLM's tiered_pricing for qwen3-coder-plus: 0-32k, 32k-128k, 128k-256k, 256k-1M
        (10_000, (1.0, 5.0, 0.1)),
        (32_000, (1.0, 5.0, 0.1)),  # "0 < tokens <= 32K": the first tier still
        (32_001, (1.8, 9.0, 0.18)),
        (200_000, (3.0, 15.0, 0.3)),
        (300_000, (6.0, 60.0, 0.6)),
        (2_000_000, (6.0, 60.0, 0.6)),  # above the last range: the last tier
    ],
)
def test_a_model_with_several_tiers_takes_the_highest_one_its_prompt_exceeds(prompt, rates):
    assert QWEN is not None and QWEN.price is not None
    assert len(QWEN.price.tiers) == 3
    input_rate, output_rate, read_rate = rates
    # a quarter of the prompt read from the cache, the rest fresh; all at one tier's rates
    tokens = Tokens(input=prompt - prompt // 4, cache_read=prompt // 4, output=1000)
    expected = (tokens.input * input_rate + tokens.cache_read * read_rate
                + 1000 * output_rate) / 1e6  # fmt: skip
    assert cost(QWEN.price, tokens) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prompt", "rates"),
    [(200_000, (1.25, 10.0, 0.125)), (200_001, (2.5, 15.0, 0.25))],
)
def test_a_model_with_one_tier(prompt, rates):
    gemini = lookup("gemini", "gemini-2.5-pro")
    assert gemini is not None and gemini.price is not None
    assert [above for above, _ in gemini.price.tiers] == [200_000]
    tokens = Tokens(input=prompt - 1000, cache_read=1000, output=500)
    input_rate, output_rate, read_rate = rates
    expected = ((prompt - 1000) * input_rate + 1000 * read_rate + 500 * output_rate) / 1e6
    assert cost(gemini.price, tokens) == pytest.approx(expected)


def test_xais_tier_starts_at_its_threshold():
    """LiteLLM bills xAI's long-context rate from 200k prompt tokens on."""
    grok = lookup("xai", "grok-4.20")
    assert grok is not None and grok.price is not None
    at, below = Tokens(input=200_000), Tokens(input=199_999)
    assert cost(grok.price, at) == pytest.approx(200_000 * 2.5 / 1e6)
    assert cost(grok.price, below) == pytest.approx(199_999 * grok.price.input / 1e6)


def test_the_builder_keeps_every_threshold_tier():
    raw = {"m": {
        "litellm_provider": "anthropic", "mode": "chat",
        "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
        "cache_creation_input_token_cost": 1.25e-6,
        "cache_creation_input_token_cost_above_1hr": 2e-6,
        "input_cost_per_token_above_128k_tokens": 3e-6,
        "input_cost_per_token_above_256k_tokens": 5e-6,
        "output_cost_per_token_above_256k_tokens": 7e-6,
        "cache_creation_input_token_cost_above_1hr_above_256k_tokens": 9e-6,
        "input_cost_per_token_above_128k_tokens_priority": 99e-6,
    }}  # fmt: skip
    info = lookup("anthropic", "m", build_snapshot(raw, "test", "2026-12-03"))
    assert info is not None and info.price is not None
    (low, mid), (high, top) = info.price.tiers
    assert (low, mid.input, mid.output, mid.cache_write_1h) == (128_000, 3.0, 2.0, 2.0)
    assert (high, top.input, top.output, top.cache_write_1h) == (256_000, 5.0, 7.0, 9.0)
    tokens = Tokens(input=300_000, cache_write=1000, cache_write_1h=1000)
    assert cost(info.price, tokens) == pytest.approx((300_000 * 5 + 1000 * 9) / 1e6)


ROOT = Path(__file__).resolve().parents[2]
LITELLM = ROOT / ".cache/bench-litellm/lib/python3.13/site-packages"
"""The benchmark's LiteLLM (scripts/bench), when it was installed."""
WHEELS = ROOT / ".cache/litellm-wheel"
"""The release's wheel, downloaded (not installed) by scripts/test.sh."""
PRICES = "litellm/model_prices_and_context_window_backup.json"


def _litellm_prices(version: str) -> bytes | None:
    """LiteLLM ``version``'s own price table: from its wheel, else from the
    benchmark's install of it; None when neither is here."""
    for wheel in sorted(WHEELS.glob(f"litellm-{version}-*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(PRICES)
    source = LITELLM / PRICES
    if (LITELLM / f"litellm-{version}.dist-info").is_dir() and source.exists():
        return source.read_bytes()
    return None


def test_the_shipped_snapshot_is_what_the_builder_makes_of_its_source():
    """Rebuilt from the LiteLLM version it names (scripts/test.sh fetches its wheel)."""
    from omniroute_mitm.engine.core.prices import SNAPSHOT

    shipped = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    version = shipped["_source"].split()[1]
    source = _litellm_prices(version)
    if source is None:
        pytest.skip(f"litellm {version}'s wheel not under .cache/litellm-wheel (scripts/test.sh)")
    rebuilt = build_snapshot(json.loads(source), "", "")
    assert rebuilt["models"] == shipped["models"]
