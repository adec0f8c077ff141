#!/usr/bin/env bash
# Sets up .venv with the test dependencies, checks lint, types and the
# packages' layer order, and runs the whole test suite on two workers. Extra
# arguments go to pytest, e.g.
#   bash scripts/test.sh -m "not e2e and not cli"    # the fast suite alone
#   bash scripts/test.sh tests/translators -n 0      # one folder, one process
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The dashboard's browser test needs Chromium: install it where we may (root
# with apt, as in CI), else that one test says it skipped and why.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium (apt) for the dashboard's browser test" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            >/dev/null 2>&1 || echo "test: chromium could not be installed" >&2
    else
        echo "test: no chromium; the dashboard's browser test will be skipped" >&2
    fi
fi
# The store on PostgreSQL is tested against a real server (tests/team): install
# it where we may, else those tests say they skipped and why.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing postgresql (apt) for the PostgreSQL store's tests" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
            >/dev/null 2>&1 || echo "test: postgresql could not be installed" >&2
    else
        echo "test: no PostgreSQL; the PostgreSQL store's tests will be skipped" >&2
    fi
fi
# The shared state is tested against a real Redis (or Valkey) server (tests/team).
if ! command -v redis-server >/dev/null 2>&1 && ! command -v valkey-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing redis-server (apt) for the shared state's tests" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
            >/dev/null 2>&1 || echo "test: redis-server could not be installed" >&2
    else
        echo "test: no redis-server or valkey-server; the shared state's tests will be skipped" >&2
    fi
fi
# The shipped price table (addons/engine/core/data/prices.json) is checked
# against the LiteLLM release it names: that release's wheel holds the source
# table. It is downloaded (pinned, no dependencies), never installed or run.
litellm_version=$(sed -n 's/.*"_source":"litellm \([0-9][0-9.]*\) .*/\1/p' addons/engine/core/data/prices.json | head -1)
if [ -n "$litellm_version" ] && ! ls .cache/litellm-wheel/litellm-"$litellm_version"-*.whl >/dev/null 2>&1; then
    echo "test: downloading the litellm $litellm_version wheel (its price table, for the snapshot's test)" >&2
    .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --cache-dir .cache/pip \
        -d .cache/litellm-wheel "litellm==$litellm_version" 2> >(grep -v "^WARNING: Location" >&2) \
        || echo "test: the litellm wheel could not be downloaded; the snapshot's test will be skipped" >&2
fi
if [ $# -eq 0 ]; then  # the whole run also holds the guardrails
    .venv/bin/ruff check .
    .venv/bin/mypy  # strict on translators/ (pyproject)
    .venv/bin/lint-imports --no-cache  # the layer order (.importlinter)
fi
workers=(-n 2)
for arg in "$@"; do
    case "$arg" in -n|-n*|--numprocesses*|-p) workers=() ;; esac
done
exec .venv/bin/python -m pytest "${workers[@]}" "$@"
