"""Screens and API of reference data an admin edits: service posts, quotas and settings."""
from models import QUOTA_PERIODS, PostCategory, ServiceQuota, Setting
from views.api_base import GongjianApi
from views.base import GongjianModelView

QUOTA_COLUMNS = ["name", "period", "min_activities", "min_hours", "min_points", "active"]


class PostCategoryView(GongjianModelView):
    model = PostCategory
    list_columns = show_columns = add_columns = edit_columns = ["name", "description", "active"]
    base_order = ("id", "asc")


class ServiceQuotaView(GongjianModelView):
    model = ServiceQuota
    choice_columns = {"period": QUOTA_PERIODS}
    list_columns = show_columns = add_columns = edit_columns = QUOTA_COLUMNS


class SettingView(GongjianModelView):
    model = Setting
    list_columns = show_columns = ["key", "value", "description"]
    add_columns = ["key", "value", "description"]
    edit_columns = ["value", "description"]
    base_order = ("key", "asc")


class PostCategoryApi(GongjianApi):
    model = PostCategory
    resource_name = "post_category"
    list_columns = show_columns = ["id", "name", "description", "active"]
    add_columns = edit_columns = ["name", "description", "active"]


class ServiceQuotaApi(GongjianApi):
    model = ServiceQuota
    resource_name = "service_quota"
    choice_columns = {"period": QUOTA_PERIODS}
    list_columns = show_columns = ["id"] + QUOTA_COLUMNS
    add_columns = edit_columns = QUOTA_COLUMNS


class SettingApi(GongjianApi):
    model = Setting
    resource_name = "setting"
    list_columns = show_columns = ["id", "key", "value", "description"]
    add_columns = ["key", "value", "description"]
    edit_columns = ["value", "description"]
