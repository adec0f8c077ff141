#!/usr/bin/env bash
# Sets up .venv with the test dependencies and runs the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e and not cli"`
# for the fast suite alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
