"""Screens and API of resident units (报到单位) and their Party organisations."""
from models import PARTY_ORG_TYPES, UNIT_TYPES, Unit
from views.api_base import GongjianApi
from views.base import GongjianModelView
from views.checkin import UnitCheckinView
from views.member import PartyMemberView

UNIT_COLUMNS = ["name", "unit_type", "credit_code", "area", "party_org_name", "party_org_type",
                "secretary", "liaison", "liaison_phone", "member_count", "address", "note"]


class UnitView(GongjianModelView):
    model = Unit
    choice_columns = {"unit_type": UNIT_TYPES, "party_org_type": PARTY_ORG_TYPES}
    list_columns = ["name", "unit_type", "area", "party_org_name", "liaison", "liaison_phone", "member_count"]
    search_columns = ["name", "unit_type", "credit_code", "area", "liaison"]
    show_columns = UNIT_COLUMNS
    add_columns = UNIT_COLUMNS
    edit_columns = UNIT_COLUMNS
    related_views = [UnitCheckinView, PartyMemberView]
    base_order = ("name", "asc")
    show_template = "gongjian/report_unit_show.html"  # adds the unit's feedback letter (views/report.py)


class UnitApi(GongjianApi):
    model = Unit
    resource_name = "unit"
    choice_columns = {"unit_type": UNIT_TYPES, "party_org_type": PARTY_ORG_TYPES}
    list_columns = ["id", "name", "unit_type", "credit_code", "area_id", "area.name", "party_org_name",
                    "liaison", "liaison_phone", "member_count"]
    show_columns = ["id"] + UNIT_COLUMNS
    add_columns = UNIT_COLUMNS
    edit_columns = UNIT_COLUMNS
    search_columns = ["name", "unit_type", "credit_code", "area"]
    order_columns = ["id", "name", "member_count"]
