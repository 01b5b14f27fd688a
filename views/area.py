"""Screens and API of the area tree (区域网格): district, streets, communities, grids, micro-grids."""

from models import AREA_LEVELS, Area
from views.api_base import GongjianApi
from views.base import GongjianModelView
from views.meeting import CommunityMeetingView
from views.member import CommunityMemberView


class AreaScreen(GongjianModelView):
    """The area screen's settings, shared by the menu screen and the sub-areas tab."""

    choice_columns = {"level": AREA_LEVELS}
    list_columns = ["name", "code", "level", "parent", "grid_worker", "household_heads", "central_households"]
    search_columns = ["name", "code", "level", "grid_worker"]
    show_columns = ["name", "code", "level", "parent", "path", "grid_worker", "grid_worker_phone",
                    "household_heads", "central_households", "note"]
    add_columns = ["parent", "level", "code", "name", "grid_worker", "grid_worker_phone",
                   "household_heads", "central_households", "note"]
    edit_columns = add_columns
    base_order = ("path", "asc")


class ChildAreaView(AreaScreen):
    """The direct sub-areas of an area (a tab of its page)."""

    model = Area
    related_via = "parent"


class AreaView(AreaScreen):
    model = Area
    related_views = [ChildAreaView, CommunityMemberView, CommunityMeetingView]


class AreaApi(GongjianApi):
    model = Area
    resource_name = "area"
    choice_columns = {"level": AREA_LEVELS}
    list_columns = ["id", "name", "code", "level", "parent_id", "path", "grid_worker",
                    "household_heads", "central_households"]
    show_columns = list_columns + ["grid_worker_phone", "note"]
    add_columns = ["parent", "level", "code", "name", "grid_worker", "grid_worker_phone",
                   "household_heads", "central_households", "note"]
    edit_columns = add_columns
    search_columns = ["name", "code", "level", "parent"]
    order_columns = ["id", "name", "code", "path"]
