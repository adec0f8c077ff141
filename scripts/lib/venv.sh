# Sourced by the scripts that run the project's .venv: says what to run when
# there is no .venv yet, or when pyproject.toml changed since it was set up
# (after a git pull), instead of a Python traceback for a missing module.
venv_ready() {  # $1: the name the messages start with
    local root want stamp
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    if [ ! -x "$root/.venv/bin/python" ]; then
        echo "$1: no .venv yet; run: bash scripts/setup.sh" >&2
        return 1
    fi
    want=$(sha256sum < "$root/pyproject.toml" | cut -d' ' -f1)
    for stamp in "$root/.venv/.installed" "$root/.venv/.installed[test]"; do
        [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    done
    echo "$1: pyproject.toml changed since .venv was set up; run: bash scripts/setup.sh" >&2
    return 1
}
