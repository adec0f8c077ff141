"""Every recorded provider response, translated into every other client format
and back, judged by the official SDKs: nothing a user would notice is lost.

Reads ../shared/fixtures (real recordings); skips when that folder is absent.
"""

from __future__ import annotations

import json
import random
import re

import pytest
import sdk_judge
from omniroute_mitm.translators import FORMAT_NAMES, StreamTranslator, get_format, translate_error
from omniroute_mitm.translators.canonical import counting_env
from sdk_judge import RESPONSE_JUDGES, STREAM_JUDGES, Summary
from shared_fixtures import FIXTURES

DIRS = {
    "anthropic": "anthropic",
    "openai-chat": "openai-chat",
    "openai-responses": "openai-responses",
    "gemini": "gemini",
}


def _fixtures(kind: str) -> list[tuple[str, str]]:
    out = []
    for fmt, folder in DIRS.items():
        for path in sorted((FIXTURES / folder).glob("*")):
            is_error = path.name.startswith("error")
            if kind == "stream" and path.suffix == ".sse":
                out.append((fmt, path.name))
            elif kind == "response" and path.suffix == ".json" and not is_error:
                if path.name != "stream-no-sse-json-array.json":
                    out.append((fmt, path.name))
            elif kind == "error" and is_error:
                out.append((fmt, path.name))
    return out


def _read(fmt: str, name: str) -> bytes:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures not present")
    return (FIXTURES / DIRS[fmt] / name).read_bytes()


def _pairs(kind: str) -> list[object]:
    if not FIXTURES.is_dir():
        return [pytest.param("none", "none", "none", marks=pytest.mark.skip("no fixtures"))]
    return [
        pytest.param(fmt, name, client, id=f"{fmt}/{name}->{client}")
        for fmt, name in _fixtures(kind)
        for client in FORMAT_NAMES
        if client != fmt
    ]


def _translate_stream(source: str, target: str, data: bytes, splits: list[int]) -> bytes:
    translator = StreamTranslator(
        get_format(source), get_format(target), counting_env(), model="test-model"
    )
    out, start = [], 0
    for end in [*splits, len(data)]:
        out.append(translator.feed(data[start:end]))
        start = end
    out.append(translator.finish())
    return b"".join(out)


def _assert_same(got: Summary, want: Summary, *formats: str) -> None:
    got, want = got.comparable(*formats), want.comparable(*formats)
    assert got.text == want.text
    assert got.tool_calls == want.tool_calls
    assert got.stop == want.stop
    assert got.reasoning == want.reasoning
    assert (got.error is None) == (want.error is None), (got.error, want.error)
    if want.usage:
        assert got.usage == want.usage


@pytest.mark.parametrize(("source", "name", "client"), _pairs("stream"))
def test_stream_fixture_survives_translation_and_back(source: str, name: str, client: str) -> None:
    data = _read(source, name)
    want = STREAM_JUDGES[source](data)
    there = _translate_stream(source, client, data, [])
    got = STREAM_JUDGES[client](there)
    _assert_same(got, want, source, client)
    back = _translate_stream(client, source, there, [])
    _assert_same(STREAM_JUDGES[source](back), want, source, client)


@pytest.mark.parametrize(("source", "name", "client"), _pairs("stream"))
def test_stream_translation_ignores_chunk_boundaries(source: str, name: str, client: str) -> None:
    data = _read(source, name)
    whole = _translate_stream(source, client, data, [])
    rng = random.Random(f"{name}{client}")
    splits = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1)))
    assert _translate_stream(source, client, data, splits) == whole
    assert _translate_stream(source, client, data, list(range(1, len(data)))) == whole


@pytest.mark.parametrize(("source", "name", "client"), _pairs("response"))
def test_response_fixture_survives_translation_and_back(
    source: str, name: str, client: str
) -> None:
    body = json.loads(_read(source, name))
    want = RESPONSE_JUDGES[source](body, strict=False)  # as the SDK reads a recording
    src, dst = get_format(source), get_format(client)
    there = dst.render_response(src.parse_response(body), counting_env())
    _assert_same(RESPONSE_JUDGES[client](there), want, source, client)
    back = src.render_response(dst.parse_response(there), counting_env())
    _assert_same(RESPONSE_JUDGES[source](back), want, source, client)


def _status(name: str) -> int:
    match = re.match(r"error-(\d{3})-", name)
    return int(match.group(1)) if match else 429


@pytest.mark.parametrize(("source", "name", "client"), _pairs("error"))
def test_error_fixture_keeps_status_and_message(source: str, name: str, client: str) -> None:
    raw = _read(source, name)
    status, body = translate_error(source, client, _status(name), raw)
    assert status == _status(name) or (status, _status(name)) in {(404, 400), (400, 404)}
    original = get_format(source).parse_error(_status(name), raw)
    again = get_format(client).parse_error(status, json.dumps(body).encode())
    assert again.message == original.message
    assert again.kind == original.kind
    _assert_sdk_raises(client, status, body)


def _assert_sdk_raises(client: str, status: int, body: dict[str, object]) -> None:
    content = json.dumps(body).encode()
    mock = sdk_judge._mock(content, status=status, stream=False)
    if client == "anthropic":
        sdk = anthropic_client(sdk_judge._mock2(content, status=status, stream=False))
        with pytest.raises(sdk_judge.anthropic.APIStatusError) as exc:
            sdk.messages.create(
                model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}]
            )
        assert exc.value.status_code == status
    elif client in ("openai-chat", "openai-responses"):
        oai = sdk_judge.openai.OpenAI(
            api_key="k", base_url="http://127.0.0.1:9/v1", http_client=mock, max_retries=0
        )
        with pytest.raises(sdk_judge.openai.APIStatusError) as exc2:
            oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert exc2.value.status_code == status
    else:
        from google.genai import errors

        options = sdk_judge.gtypes.HttpOptions(base_url="http://127.0.0.1:9", httpx_client=mock)
        gclient = sdk_judge.genai.Client(api_key="k", http_options=options)
        with pytest.raises(errors.APIError) as exc3:
            gclient.models.generate_content(model="m", contents="x")
        assert exc3.value.code == status


def anthropic_client(mock: object) -> sdk_judge.anthropic.Anthropic:
    return sdk_judge.anthropic.Anthropic(
        api_key="k", base_url="http://127.0.0.1:9", http_client=mock, max_retries=0
    )
