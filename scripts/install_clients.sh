#!/usr/bin/env bash
# Installs the AI CLIs that the cli tests drive (Claude Code, Codex, Gemini
# CLI; exact versions pinned in tests/clients/package.json and its lock file)
# into .cache/clients, with npm's cache in .cache/npm (both ignored by git).
# A no-op while the installed versions match the pins.
#
# `install_clients.sh reach`: the Node clients beyond those three that speak to
# a catalogued vendor (Qwen Code, OpenCode; tests/clients/reach/) into
# .cache/clients-reach.
#
# `install_clients.sh aider`: Aider (PyPI, tests/clients/aider/requirements.txt)
# into its own venv, .cache/clients-aider, with a Python 3.10-3.12 (Aider's
# range); tests/clients/aider/constraints.txt pins the LiteLLM inside it.
#
# Exit status: 0 installed (or already there), 3 npm (or, for aider, a Python
# 3.10-3.12) is missing, else npm's or pip's.
set -euo pipefail
cd "$(dirname "$0")/.."

BAD_LITELLM="1.82.7 1.82.8"  # published with a credential stealer: never installed

aider_python() {
    local candidate
    for candidate in "${AIDER_PYTHON:-}" python3.12 python3.11 python3.10 \
        /usr/bin/python3.12 /usr/bin/python3.11 /usr/bin/python3.10 \
        "$HOME"/.pyenv/versions/3.1[012]*/bin/python3; do
        [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys, venv; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' \
            2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

install_aider() {
    local src=tests/clients/aider dst=.cache/clients-aider py want have
    want=$(cat "$src/requirements.txt" "$src/constraints.txt" | sha256sum | cut -d' ' -f1)
    mkdir -p "$dst"
    exec 9>"$dst/.install.lock"
    flock 9 2>/dev/null || true
    if [ -x "$dst/venv/bin/aider" ] && [ "$(cat "$dst/.installed" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    if ! py=$(aider_python); then
        echo "install_clients: Aider needs Python 3.10-3.12 (set AIDER_PYTHON)" >&2
        return 3
    fi
    echo "install_clients: installing $(grep -v '^#' "$src/requirements.txt") into $dst" >&2
    rm -rf "$dst/venv" "$dst/.installed"
    "$py" -m venv "$dst/venv"
    "$dst/venv/bin/python" -m pip install -q --disable-pip-version-check --cache-dir .cache/pip \
        -r "$src/requirements.txt" -c "$src/constraints.txt" >&2
    have=$("$dst/venv/bin/python" -c 'from importlib.metadata import version; print(version("litellm"))')
    case " $BAD_LITELLM " in
        *" $have "*) echo "install_clients: LiteLLM $have must never be installed" >&2
                     rm -rf "$dst/venv"; return 1 ;;
    esac
    echo "$want" > "$dst/.installed"
}

if [ "${1:-}" = aider ]; then
    install_aider
    exit $?
fi

case "${1:-}" in
    "") src=tests/clients; dst=.cache/clients; bins=(claude codex gemini); install=ci ;;
    # npm ci refuses Qwen Code's lock: optional clipboard packages of other platforms
    # that npm leaves unresolved; install keeps the lock (checked: unchanged) all the same
    reach) src=tests/clients/reach; dst=.cache/clients-reach; bins=(qwen opencode); install=install ;;
    *) echo "install_clients: unknown set ${1} (none, reach or aider)" >&2; exit 2 ;;
esac

up_to_date() {
    local bin
    for bin in "${bins[@]}"; do
        [ -x "$dst/node_modules/.bin/$bin" ] || return 1
    done
    # every pinned package installed at exactly its pinned version
    node -e '
        const fs = require("fs");
        const deps = require(process.argv[1]).dependencies;
        for (const [name, want] of Object.entries(deps)) {
            const file = `${process.argv[2]}/node_modules/${name}/package.json`;
            const got = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file)).version : null;
            if (got !== want) process.exit(1);
        }' "$PWD/$src/package.json" "$PWD/$dst"
}

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "install_clients: npm (Node.js) is not installed" >&2
    exit 3
fi
mkdir -p "$dst"
# pytest-xdist workers may call this at the same time: one installs, the others wait.
exec 9>"$dst/.install.lock"
flock 9 2>/dev/null || true
if up_to_date; then
    exit 0
fi
echo "install_clients: installing $(node -p 'Object.entries(require(process.argv[1]).dependencies).map(e => e.join("@")).join(", ")' "$PWD/$src/package.json") into $dst" >&2
cp "$src/package.json" "$src/package-lock.json" "$dst/"
npm "$install" --prefix "$dst" --cache .cache/npm --prefer-offline --no-audit --no-fund --loglevel=error >&2
up_to_date || { echo "install_clients: npm ci finished but the pinned versions are not there" >&2; exit 1; }
