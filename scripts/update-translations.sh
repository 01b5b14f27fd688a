#!/usr/bin/env bash
# Re-extract every translatable string and merge it into the zh and en catalogues. New entries are
# left untranslated: translate them in translations/zh/LC_MESSAGES/messages.po (the tests fail
# until every zh entry is translated).
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
"$PYBABEL" -q extract -F translations/babel.cfg -k _l -k lazy_gettext -k _ -k gettext \
    -o translations/messages.pot .
"$PYBABEL" -q update -i translations/messages.pot -d translations --ignore-obsolete --no-fuzzy-matching
.venv/bin/python -m app.i18n --force >/dev/null
.venv/bin/python - <<'PY'
from babel.messages.pofile import read_po
with open("translations/zh/LC_MESSAGES/messages.po", "rb") as f:
    catalog = read_po(f)
todo = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
print(f"zh entries to translate: {len(todo)}")
for msgid in todo:
    print("  ", msgid)
PY
