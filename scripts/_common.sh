# Shared by scripts/demo.sh and scripts/test.sh (sourced, not run): the project's virtualenv.
# PYTHON picks the interpreter for a new .venv (default python3.11, which pyproject requires).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        local python="${PYTHON:-python3.11}"
        if ! command -v "$python" >/dev/null 2>&1; then
            echo "Gongjian needs Python 3.11: install it (e.g. apt-get install python3.11 python3.11-venv)" \
                 "or set PYTHON=/path/to/python3.11" >&2
            exit 1
        fi
        echo "==> Creating $VENV with $python"
        "$python" -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "$VENV is not a Python 3.11 virtualenv: remove it and run this script again" >&2
        exit 1
    fi
}

# pip install -e "<spec>" unless the same spec was installed from the same pyproject.toml.
install_project() {
    local spec="$1"
    local stamp="$VENV/.gongjian-installed-$(echo "$spec" | tr -c 'a-z0-9\n' '_')"
    local digest
    digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        return
    fi
    echo "==> pip install -e '$spec'"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
    echo "$digest" > "$stamp"
}
