"""Refresh addons/engine/data/prices.json from LiteLLM's price map.

    python scripts/refresh_prices.py                       # the installed litellm package
    python scripts/refresh_prices.py --from prices.json    # a downloaded copy of
        https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json

Only the data is taken (MIT, Copyright (c) 2023 Berri AI). litellm need not
be importable: the file is found in its package directory without running it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

from omniroute_mitm.engine.core.prices import SNAPSHOT, build_snapshot

ROOT = Path(__file__).resolve().parent.parent

NAMES = ("model_prices_and_context_window_backup.json", "model_prices_and_context_window.json")


def installed_map() -> tuple[Path, str]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("litellm is not installed here: pass --from FILE")
    folder = Path(next(iter(spec.submodule_search_locations)))
    version = "?"
    for dist in folder.parent.glob("litellm-*.dist-info"):
        version = dist.name.removeprefix("litellm-").removesuffix(".dist-info")
    for name in NAMES:
        if (folder / name).exists():
            return folder / name, f"litellm {version} package, litellm/{name}"
    raise SystemExit(f"no price map in {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", help="a downloaded price map (JSON)")
    parser.add_argument("--label", help="how the source is named in the file")
    parser.add_argument("--out", default=str(SNAPSHOT), help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.source:
        path, source = Path(args.source), f"LiteLLM price map, file {Path(args.source).name}"
    else:
        path, source = installed_map()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read {path}: {exc}") from None
    snapshot = build_snapshot(raw, args.label or source, dt.date.today().isoformat())
    text = json.dumps(snapshot, indent=0, separators=(",", ":"), sort_keys=False)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(f"{args.out}: {len(snapshot['models'])} models from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
