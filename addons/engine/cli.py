"""``omniroute``: the project's command line (installed by scripts/setup.sh).

    omniroute doctor [--config PATH] [--port 8080] [--certs DIR] [--timeout 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .doctor import Context, run
from .doctor.base import ROOT
from .doctor.ca_checks import check_ca, check_trust
from .doctor.client_checks import check_clients
from .doctor.providers import check_providers
from .doctor.proxy_check import check_proxy
from .doctor.setup_checks import check_config, check_keys, check_mitmproxy, check_python

CHECKS = (check_python, check_mitmproxy, check_config, check_keys, check_providers,
          check_ca, check_trust, check_proxy, check_clients)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omniroute", description="omniroute-mitm tools")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="check the config, keys, providers, CA and clients",
                            description="One line per check: ok, warning or error with its "
                            "fix. Exit code 0 only when nothing is an error.")
    doctor.add_argument("--config", type=Path, default=ROOT / "config.yaml",
                        help="the config file (default: the repository's config.yaml)")
    doctor.add_argument("--port", type=int, default=8080, help="the proxy's port (default 8080)")
    doctor.add_argument("--certs", type=Path, default=ROOT / "certs",
                        help="the CA's directory (default: certs/)")
    doctor.add_argument("--timeout", type=float, default=5.0,
                        help="seconds per network check (default 5)")
    args = parser.parse_args(argv)
    context = Context(config_path=args.config, confdir=args.certs, port=args.port,
                      timeout=args.timeout)
    try:
        return run(context, CHECKS)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
