"""``omniroute``: the project's command line.

omniroute doctor [--config PATH] [--port 8080] [--certs DIR] [--timeout 5]
omniroute init [--force]          # installed: a starting config and the CA in your dirs
omniroute ca generate|env|install|uninstall ...
omniroute addon                   # the path to give ``mitmdump -s``
omniroute run [mitmdump options]  # mitmdump with the addon and the project's CA
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

from omniroute_mitm.engine.core import paths, private

from . import ca
from .doctor import Context, run
from .doctor.ca_checks import check_ca, check_trust
from .doctor.client_checks import check_clients
from .doctor.providers import check_providers
from .doctor.proxy_check import check_proxy
from .doctor.setup_checks import check_config, check_keys, check_mitmproxy, check_python

CHECKS = (
    check_python,
    check_mitmproxy,
    check_config,
    check_keys,
    check_providers,
    check_ca,
    check_trust,
    check_proxy,
    check_clients,
)


def addon_path() -> Path:
    """The mitmdump entry: the checkout's addons/omniroute.py, else the
    installed copy (in a folder of its own, so mitmdump's sys.path insert
    exposes nothing else)."""
    root = paths.checkout()
    if root is not None:
        return root / "addons" / "omniroute.py"
    return Path(str(resources.files("omniroute_mitm.front") / "mitmdump" / "omniroute.py"))


def starting_config() -> str:
    root = paths.checkout()
    if root is not None:
        return (root / "config.yaml").read_text("utf-8")
    return (resources.files("omniroute_mitm.engine.core") / "data" / "config.yaml").read_text(
        "utf-8"
    )


def init(force: bool) -> int:
    config, certs = paths.config_file(), paths.certs_dir()
    if config.exists() and not force:
        print(f"init: kept {config} (--force writes the starting config over it)")
    else:
        private.private_dir(config.parent)
        config.unlink(missing_ok=True)  # --force: a new file, 0600 (keys may go in it)
        with os.fdopen(private.create_file(config), "w", encoding="utf-8") as fh:
            fh.write(starting_config())
        print(f"init: wrote {config}")
    ca.main(["--dir", str(certs), "generate"])
    print(f"init: next: edit {config}, then start the proxy: omniroute run")
    return 0


def run_mitmdump(args: list[str]) -> int:
    mitmdump = shutil.which("mitmdump", path=str(Path(sys.executable).parent)) or shutil.which(
        "mitmdump"
    )
    if mitmdump is None:
        print("run: mitmdump not found (pip install mitmproxy)", file=sys.stderr)
        return 1
    argv = [mitmdump, "-s", str(addon_path()), "--set", f"confdir={paths.certs_dir()}",
            "--set", f"omniroute_config={paths.config_file()}", *args]  # fmt: skip
    if not any(a.startswith("--listen-host") or "listen_host" in a for a in args):
        argv += ["--listen-host", "127.0.0.1"]  # bound there from the start, never on "*"
    os.execv(mitmdump, argv)
    return 1  # not reached


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ca"]:
        return ca.main(argv[1:])
    if argv[:1] == ["run"]:
        return run_mitmdump(argv[1:])
    parser = argparse.ArgumentParser(prog="omniroute", description="omniroute-mitm tools")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser(
        "doctor",
        help="check the config, keys, providers, CA and clients",
        description="One line per check: ok, warning or error with its "
        "fix. Exit code 0 only when nothing is an error.",
    )
    doctor.add_argument(
        "--config",
        type=Path,
        default=paths.config_file(),
        help=f"the config file (default: {paths.config_file()})",
    )
    doctor.add_argument("--port", type=int, default=8080, help="the proxy's port (default 8080)")
    doctor.add_argument(
        "--certs",
        type=Path,
        default=paths.certs_dir(),
        help=f"the CA's directory (default: {paths.certs_dir()})",
    )
    doctor.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per network check (default 5)"
    )
    first = sub.add_parser(
        "init", help="write a starting config and the CA where this installation looks for them"
    )
    first.add_argument("--force", action="store_true", help="replace an existing config")
    sub.add_parser("ca", help="the project's CA: generate, env, install, uninstall")
    sub.add_parser("addon", help="print the path of the addon for `mitmdump -s`")
    sub.add_parser("run", help="start mitmdump with the addon, the CA and the config")
    args = parser.parse_args(argv)
    if args.command == "init":
        return init(args.force)
    if args.command == "addon":
        print(addon_path())
        return 0
    context = Context(
        config_path=args.config, confdir=args.certs, port=args.port, timeout=args.timeout
    )
    try:
        return run(context, CHECKS)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
