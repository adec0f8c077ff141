#!/usr/bin/env bash
# Installs the AI CLIs that the cli tests drive (Claude Code, Codex, Gemini
# CLI; exact versions pinned in tests/clients/package.json and its lock file)
# into .cache/clients, with npm's cache in .cache/npm (both ignored by git).
# A no-op while the installed versions match the pins.
#
# `install_clients.sh reach`: the clients beyond those three that speak to a
# catalogued vendor (Qwen Code; tests/clients/reach/) into .cache/clients-reach.
#
# Exit status: 0 installed (or already there), 3 npm is missing, else npm's.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    "") src=tests/clients; dst=.cache/clients; bins=(claude codex gemini); install=ci ;;
    # npm ci refuses Qwen Code's lock: optional clipboard packages of other platforms
    # that npm leaves unresolved; install keeps the lock (checked: unchanged) all the same
    reach) src=tests/clients/reach; dst=.cache/clients-reach; bins=(qwen); install=install ;;
    *) echo "install_clients: unknown set ${1} (none, or reach)" >&2; exit 2 ;;
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
