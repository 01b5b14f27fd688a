"""How audit entries read on screen: times in Asia/Shanghai (stored UTC), actions and tables as
words, and the before/after diff as a small table with the fields' labels."""
import json

from flask_babel import to_user_timezone
from markupsafe import Markup, escape

from app.core.labels import LABELS, TABLE_LABELS
from views.labels import ACTION_LABELS, VIA_LABELS


def local_time(value):
    return to_user_timezone(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def changes_table(changes):
    """The JSON {field: [before, after]} as an HTML table (values escaped)."""
    try:
        data = json.loads(changes) if changes else {}
    except ValueError:
        return escape(changes)
    if not data:
        return ""
    rows = "".join(
        Markup("<tr><th>{}</th><td>{}</td><td>→ {}</td></tr>").format(
            LABELS.get(field, field), _cell(pair[0] if isinstance(pair, list) else ""),
            _cell(pair[1] if isinstance(pair, list) and len(pair) > 1 else pair))
        for field, pair in sorted(data.items())
    )
    return Markup('<table class="table table-condensed audit-diff">{}</table>').format(rows)


def label_from(labels):
    return lambda code: labels.get(code, code) if code else ""


FORMATTERS = {
    "at": local_time,
    "changes": changes_table,
    "action": label_from(ACTION_LABELS),
    "record_type": label_from(TABLE_LABELS),
    "via": label_from(VIA_LABELS),
}


class HistoryEntry:
    """One line of a record's change history."""

    def __init__(self, entry):
        self.at_local = local_time(entry.at)
        self.actor = entry.actor
        self.action_label = ACTION_LABELS.get(entry.action, entry.action)
        self.changes_html = changes_table(entry.changes)
