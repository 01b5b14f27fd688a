"""Screens and API of in-service Party members (在职党员)."""
from flask_babel import lazy_gettext as _l

from models import GENDERS, PartyMember
from views.api_base import GongjianApi
from views.base import AREA_SUBTREE, COMMUNITY_SEARCH, GongjianModelView
from views.checkin import MemberCheckinView
from views.service import ServiceRecordView

MEMBER_COLUMNS = ["name", "gender", "id_card", "phone", "employer", "area", "party_joined_on", "skills",
                  "post_category", "preferred_post", "address", "note"]


class MemberScreen(GongjianModelView):
    """The member screen's settings, shared by the menu screen and the community tab."""

    choice_columns = {"gender": GENDERS}
    label_columns = {"name": _l("Full name")}
    list_columns = ["name", "gender", "id_card", "phone", "employer", "area", "post_category"]
    # No employer dropdown here (1,000+ units on every page): a unit's members are a tab of its page.
    search_columns = ["name", "phone", "community", "skills", "post_category"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = MEMBER_COLUMNS
    add_columns = MEMBER_COLUMNS
    edit_columns = MEMBER_COLUMNS
    related_views = [MemberCheckinView, ServiceRecordView]


class PartyMemberView(MemberScreen):
    model = PartyMember


class CommunityMemberView(MemberScreen):
    """An area's members, in it or any node below it (a tab of the area screen)."""

    model = PartyMember
    related_via = AREA_SUBTREE


class PartyMemberApi(GongjianApi):
    model = PartyMember
    resource_name = "party_member"
    choice_columns = {"gender": GENDERS}
    list_columns = ["id", "name", "gender", "id_card", "phone", "employer_id", "employer.name", "area_id",
                    "area.name", "community_id", "post_category_id"]
    show_columns = ["id"] + MEMBER_COLUMNS + ["community_id"]
    add_columns = MEMBER_COLUMNS
    edit_columns = MEMBER_COLUMNS
    search_columns = ["name", "phone", "area", "community", "employer", "post_category"]
    order_columns = ["id", "name"]
