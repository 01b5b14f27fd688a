"""The audit log screen and API: read-only for every role (nobody can add, edit or delete)."""
from models import AuditLog
from views.base import GongjianApi, GongjianBaseView
from views.labels import ACTION_LABELS, TABLE_LABELS, VIA_LABELS


def _label_from(labels):
    return lambda code: labels.get(code, code) if code else ""

AUDIT_COLUMNS = ["id", "at", "actor", "roles", "via", "client_addr", "request_id", "action", "record_type",
                 "record_id", "area_id", "summary", "changes", "prev_hash", "entry_hash"]


class AuditLogView(GongjianBaseView):
    model = AuditLog
    base_permissions = ["can_read"]
    list_columns = ["at", "actor", "roles", "action", "record_type", "record_id", "summary", "client_addr"]
    search_columns = ["actor", "roles", "action", "record_type", "record_id", "at", "via"]
    show_columns = AUDIT_COLUMNS
    base_order = ("id", "desc")
    list_title = TABLE_LABELS["audit_log"]
    formatters_columns = {"action": _label_from(ACTION_LABELS), "record_type": _label_from(TABLE_LABELS),
                          "via": _label_from(VIA_LABELS)}


class AuditLogApi(GongjianApi):
    model = AuditLog
    resource_name = "audit_log"
    base_permissions = ["can_read"]
    list_columns = show_columns = AUDIT_COLUMNS
    search_columns = ["actor", "roles", "action", "record_type", "record_id", "at", "via"]
    order_columns = ["id", "at"]
