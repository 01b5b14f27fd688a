"""Screens and API of double reporting: unit check-ins, co-building agreements, and in-service
members' check-ins."""
from models import MEMBER_CHECKIN_STATUS, UNIT_CHECKIN_STATUS, Agreement, MemberCheckin, UnitCheckin
from views.api_base import GongjianApi
from views.base import COMMUNITY_SEARCH, GongjianModelView
from views.unit_report import UnitReportView

AGREEMENT_COLUMNS = ["checkin", "title", "starts_on", "ends_on", "signed_on", "liaison", "liaison_phone",
                     "content", "file"]
UNIT_CHECKIN_COLUMNS = ["unit", "area", "status", "slip_no", "registered_on", "confirmed_on",
                        "confirmed_by", "receipt_no", "note"]
MEMBER_CHECKIN_COLUMNS = ["member", "area", "status", "card_no", "registered_on", "confirmed_on",
                          "valid_until", "post_category", "note"]


class AgreementView(GongjianModelView):
    model = Agreement
    list_columns = ["title", "checkin", "starts_on", "ends_on", "signed_on", "liaison"]
    search_columns = ["title", "starts_on", "ends_on", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = AGREEMENT_COLUMNS + ["area"]
    add_columns = AGREEMENT_COLUMNS
    edit_columns = AGREEMENT_COLUMNS


class UnitCheckinView(GongjianModelView):
    model = UnitCheckin
    choice_columns = {"status": UNIT_CHECKIN_STATUS}
    list_columns = ["unit", "area", "status", "registered_on", "confirmed_on", "receipt_no"]
    search_columns = ["unit", "status", "registered_on", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = UNIT_CHECKIN_COLUMNS
    add_columns = UNIT_CHECKIN_COLUMNS
    edit_columns = UNIT_CHECKIN_COLUMNS
    related_views = [AgreementView, UnitReportView]


class MemberCheckinView(GongjianModelView):
    model = MemberCheckin
    choice_columns = {"status": MEMBER_CHECKIN_STATUS}
    list_columns = ["member", "area", "status", "registered_on", "valid_until", "post_category"]
    search_columns = ["status", "registered_on", "valid_until", "community", "post_category"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = MEMBER_CHECKIN_COLUMNS
    add_columns = MEMBER_CHECKIN_COLUMNS
    edit_columns = MEMBER_CHECKIN_COLUMNS


class UnitCheckinApi(GongjianApi):
    model = UnitCheckin
    resource_name = "unit_checkin"
    choice_columns = {"status": UNIT_CHECKIN_STATUS}
    list_columns = ["id", "unit_id", "unit.name", "area_id", "area.name", "status", "registered_on",
                    "confirmed_on", "receipt_no"]
    show_columns = ["id"] + UNIT_CHECKIN_COLUMNS
    add_columns = UNIT_CHECKIN_COLUMNS
    edit_columns = UNIT_CHECKIN_COLUMNS
    search_columns = ["unit", "area", "community", "status", "registered_on"]


class AgreementApi(GongjianApi):
    model = Agreement
    resource_name = "agreement"
    list_columns = ["id", "checkin_id", "area_id", "title", "starts_on", "ends_on", "signed_on", "liaison"]
    show_columns = ["id", "checkin_id", "area_id", "title", "starts_on", "ends_on", "signed_on", "liaison",
                    "liaison_phone", "content"]
    add_columns = ["checkin", "title", "starts_on", "ends_on", "signed_on", "liaison", "liaison_phone", "content"]
    edit_columns = add_columns
    search_columns = ["checkin", "community", "title", "ends_on"]


class MemberCheckinApi(GongjianApi):
    model = MemberCheckin
    resource_name = "member_checkin"
    choice_columns = {"status": MEMBER_CHECKIN_STATUS}
    list_columns = ["id", "member_id", "member.name", "area_id", "status", "card_no", "registered_on",
                    "confirmed_on", "valid_until", "post_category_id"]
    show_columns = ["id"] + MEMBER_CHECKIN_COLUMNS
    add_columns = MEMBER_CHECKIN_COLUMNS
    edit_columns = MEMBER_CHECKIN_COLUMNS
    search_columns = ["member", "area", "community", "status", "registered_on", "valid_until"]
