#!/usr/bin/env bash
# Creates .venv with Python >= 3.12 and installs the project (and, with
# --test, its test dependencies). Safe to rerun: it reinstalls only when
# pyproject.toml changed. Downloads are cached under .cache/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}

find_python() {
    local candidate
    local pyenv_root
    pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for candidate in "${OMNIROUTE_PYTHON:-}" python3.13 python3.12 \
        "$pyenv_root"/versions/3.13*/bin/python3 "$pyenv_root"/versions/3.12*/bin/python3 \
        /usr/local/bin/python3.13 /usr/bin/python3.13 \
        /usr/local/bin/python3.12 /usr/bin/python3.12 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
        if python_ok "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! python_ok .venv/bin/python; then
    if ! py=$(find_python); then
        echo "setup: no Python 3.12 or newer found." >&2
        echo "setup: install one (e.g. 'pyenv install 3.13', 'apt-get install python3.12-venv'," >&2
        echo "setup: or 'brew install python@3.13') or set OMNIROUTE_PYTHON=/path/to/python3." >&2
        exit 1
    fi
    rm -rf .venv
    "$py" -m venv .venv
fi

stamp=".venv/.installed${extras}"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing into .venv ($(.venv/bin/python --version))" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check \
        --cache-dir .cache/pip -e ".${extras}" 2> >(grep -v "^WARNING: Location" >&2)
    echo "$want" > "$stamp"
fi

# The project's name-constrained CA in certs/ (idempotent; the addon uses it).
.venv/bin/python scripts/ca.py generate >/dev/null
if [ -z "$extras" ]; then
    echo "setup: ready. Start the proxy: .venv/bin/mitmdump -s addons/omniroute.py --listen-host 127.0.0.1" >&2
    echo "setup: then check the set-up: .venv/bin/omniroute doctor" >&2
fi
