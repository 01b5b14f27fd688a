"""The audit log screen and API: read-only for every role (nobody can add, edit or delete)."""
from app.core.labels import TABLE_LABELS
from models import AuditLog
from views.api_base import GongjianApi
from views.audit_display import FORMATTERS
from views.base import GongjianBaseView
from views.labels import ACTION_LABELS, VIA_LABELS

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
    formatters_columns = FORMATTERS
    # The export carries what an auditor needs to follow up an entry (the diff, the chain hash).
    export_columns = ["id", "at", "actor", "roles", "via", "client_addr", "request_id", "action", "record_type",
                      "record_id", "summary", "changes", "entry_hash"]
    export_labels = {"action": ACTION_LABELS, "record_type": TABLE_LABELS, "via": VIA_LABELS}
    search_columns = ["actor", "roles", "action", "record_type", "record_id", "at", "via", "client_addr"]


class AuditLogApi(GongjianApi):
    model = AuditLog
    resource_name = "audit_log"
    base_permissions = ["can_read"]
    list_columns = show_columns = AUDIT_COLUMNS
    search_columns = ["actor", "roles", "action", "record_type", "record_id", "at", "via"]
    order_columns = ["id", "at"]
