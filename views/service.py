"""Screens and API of service records (服务记录)."""
from models import ServiceRecord
from views.api_base import GongjianApi
from views.base import COMMUNITY_SEARCH, GongjianModelView

SERVICE_COLUMNS = ["member", "unit", "project", "area", "served_on", "hours", "points", "content",
                   "verified_by", "verified_on", "checked_in_at", "checked_out_at", "note"]


class ServiceRecordView(GongjianModelView):
    model = ServiceRecord
    list_columns = ["served_on", "member", "unit", "content", "hours", "points", "verified_by"]
    # Only indexed searches over a million records.
    search_columns = ["served_on", "community", "verified_on"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = SERVICE_COLUMNS
    add_columns = [c for c in SERVICE_COLUMNS if c != "area"]
    edit_columns = add_columns
    base_order = ("id", "desc")


class ServiceRecordApi(GongjianApi):
    model = ServiceRecord
    resource_name = "service_record"
    list_columns = ["id", "member_id", "unit_id", "project_id", "area_id", "community_id", "served_on",
                    "hours", "points", "content", "verified_by", "verified_on"]
    show_columns = ["id"] + SERVICE_COLUMNS
    add_columns = [c for c in SERVICE_COLUMNS if c != "area"]
    edit_columns = add_columns
    search_columns = ["member", "unit", "project", "area", "community", "served_on"]
    order_columns = ["id", "served_on", "hours"]
