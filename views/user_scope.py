"""The security admin's screen assigning each account its area (and unit, for liaisons)."""
from models import UserScope
from views.base import GongjianApi, GongjianModelView


class UserScopeView(GongjianModelView):
    model = UserScope
    list_columns = ["user", "area", "unit"]
    search_columns = ["user", "unit"]
    show_columns = add_columns = edit_columns = ["user", "area", "unit"]


class UserScopeApi(GongjianApi):
    model = UserScope
    resource_name = "user_scope"
    list_columns = show_columns = ["id", "user_id", "area_id", "unit_id"]
    add_columns = edit_columns = ["user", "area", "unit"]
