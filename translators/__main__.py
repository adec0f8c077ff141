"""Command line: convert one request, response or stream between wire formats.

    python -m omniroute_mitm.translators FROM TO [--kind request|response|stream|error] < in > out

FROM is the format of the input, TO the format wanted. A request goes from a
client format to a provider format; a response, error or stream goes from a
provider format to a client format. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from . import (
    FORMAT_NAMES,
    Env,
    StreamTranslator,
    TranslationError,
    get_format,
    translate_request,
    translate_response,
)

KINDS = ("request", "response", "stream", "error")
CHUNK = 64 * 1024


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.kind == "stream":
            _convert_stream(args)
        else:
            _convert_body(args)
    except TranslationError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        return 0
    return 0


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m omniroute_mitm.translators",
        description="Convert one request body, response body or raw SSE stream "
        "between AI API wire formats (stdin to stdout).",
    )
    parser.add_argument("source", metavar="FROM", choices=FORMAT_NAMES, help="input format")
    parser.add_argument("target", metavar="TO", choices=FORMAT_NAMES, help="output format")
    parser.add_argument("--kind", choices=KINDS, default="request", help="what stdin holds")
    parser.add_argument("--model", help="model name (Gemini requests carry it in the URL)")
    parser.add_argument("--status", type=int, default=400, help="HTTP status, with --kind error")
    parser.add_argument(
        "--no-sse",
        action="store_true",
        help="with TO=gemini and --kind stream: Gemini's JSON-array streaming",
    )
    return parser


def _convert_body(args: argparse.Namespace) -> None:
    raw = sys.stdin.buffer.read()
    if args.kind == "error":
        status, out = get_format(args.target).render_error(
            get_format(args.source).parse_error(args.status, raw)
        )
        _write_json({"status": status, "body": out})
        return
    body = _load_json(raw)
    if args.kind == "request":
        parse: dict[str, Any] = {}
        if args.source == "gemini":
            parse["model"] = args.model or "gemini"
        _write_json(translate_request(args.source, args.target, body, Env(), **parse))
    else:
        _write_json(translate_response(args.source, args.target, body, Env()))


def _convert_stream(args: argparse.Namespace) -> None:
    translator = StreamTranslator(
        get_format(args.source),
        get_format(args.target),
        Env(),
        model=args.model or "unknown",
        sse=not args.no_sse,
    )
    out = sys.stdout.buffer
    source = sys.stdin.buffer
    read = getattr(source, "read1", source.read)  # read1: whatever has arrived
    while chunk := read(CHUNK):
        out.write(translator.feed(chunk))
        out.flush()
    out.write(translator.finish())
    out.flush()


def _load_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        _fail(f"input is not valid JSON: {exc}")
    if not isinstance(body, dict):
        _fail(f"input must be a JSON object, got {type(body).__name__}")
    return body


def _write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _fail(message: str) -> NoReturn:
    print(f"translators: {message}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    raise SystemExit(main())
