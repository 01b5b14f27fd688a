#!/usr/bin/env bash
# THE one command that installs and runs the tests: bash scripts/test.sh [pytest arguments]
# The suite runs on SQLite and, when reachable, on PostgreSQL (GONGJIAN_TEST_DATABASE_URL, default
# postgresql+psycopg://postgres@127.0.0.1:5432/test), with Redis (GONGJIAN_TEST_REDIS_URL) and
# headless Chromium (/usr/bin/chromium) for the tests that need them. Unreachable services skip
# those tests, unless GONGJIAN_REQUIRE_SERVICES=1 (CI), which makes them fail.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ensure_venv
install_project '.[test]'

# Headless Chromium for the browser tests, and a Chinese font so its screenshots show the UI's
# Chinese rather than empty boxes (Debian packages; never `playwright install`).
apt_packages=()
if [ ! -x /usr/bin/chromium ]; then
    apt_packages+=(chromium chromium-driver fonts-wqy-microhei)
elif ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    apt_packages+=(fonts-wqy-microhei)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install ${apt_packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update && apt-get install -y "${apt_packages[@]}"
    else
        echo "warning: missing ${apt_packages[*]} (install them as root): without /usr/bin/chromium the" \
             "browser tests skip (fail with GONGJIAN_REQUIRE_SERVICES=1)" >&2
    fi
fi

echo "==> pytest $*"
exec "$VENV/bin/python" -m pytest "$@"
