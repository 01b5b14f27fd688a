#!/usr/bin/env bash
# THE one command that installs and starts Gongjian on a fresh machine, on the embedded default
# (SQLite database and SQLite Celery broker under instance/, or GONGJIAN_DATA_DIR):
#   bash scripts/demo.sh [--host 0.0.0.0] [--port 5000] [--no-worker]
# Arguments go to `flask --app app gongjian serve`. Ctrl-C stops the web server and the worker.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

export GONGJIAN_ENV="${GONGJIAN_ENV:-demo}"
ensure_venv
install_project .

# A Chinese TrueType font for the PDF feedback letters (reportlab embeds it; config PDF_FONT_PATH).
if [ -z "${GONGJIAN_PDF_FONT_PATH:-}" ] && [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install fonts-wqy-microhei"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update && apt-get install -y fonts-wqy-microhei
    else
        echo "warning: fonts-wqy-microhei is missing (install it as root, or set GONGJIAN_PDF_FONT_PATH):" \
             "PDF feedback letters fail without a Chinese font" >&2
    fi
fi
FLASK=("$VENV/bin/flask" --app app)

echo "==> flask --app app gongjian init"
"${FLASK[@]}" gongjian init

# The seed is idempotent, but building the demo district takes a while: skip it once it is there.
has_demo_data() {
    "$VENV/bin/python" - 2>/dev/null <<'PY'
import sys

from app import create_app
from app.demo.seed import demo_anchors
from app.demo.users import DEMO_USERS

app = create_app()
with app.app_context():
    sm = app.appbuilder.sm
    complete = demo_anchors() is not None and all(sm.find_user(username=name) for name in DEMO_USERS)
sys.exit(0 if complete else 1)
PY
}

if [ "$GONGJIAN_ENV" = "demo" ]; then
    if has_demo_data; then
        echo "==> The demo data is already there (flask --app app gongjian seed-demo skipped)"
    else
        echo "==> flask --app app gongjian seed-demo"
        "${FLASK[@]}" gongjian seed-demo
    fi
fi

echo "==> flask --app app gongjian serve $*"
exec "${FLASK[@]}" gongjian serve "$@"
