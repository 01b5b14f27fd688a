"""Screens and API of the three lists (三张清单): needs, resources, projects, and project claims.
Each is approved or rejected by the explicit actions of views/approvals.py: the decision columns
are shown, never in a form or a request body."""
from models import APPROVAL_STATUS, LIST_CATEGORIES, Need, Project, ProjectClaim, Resource
from views.api_base import GongjianApi
from views.approvals import APPROVAL_SHOWN, ReviewApi, ReviewScreen
from views.base import COMMUNITY_SEARCH

NEED_COLUMNS = ["title", "category", "area", "description", "proposer", "submitted_on"]
RESOURCE_COLUMNS = ["title", "category", "unit", "area", "description"]
PROJECT_COLUMNS = ["title", "category", "need", "area", "description", "starts_on", "ends_on"]
CLAIM_COLUMNS = ["project", "unit", "member", "claimed_on", "note"]
CHOICES = {"status": APPROVAL_STATUS, "category": LIST_CATEGORIES}


class ListView(ReviewScreen):
    choice_columns = CHOICES
    search_form_query_rel_fields = COMMUNITY_SEARCH


class ProjectClaimView(ReviewScreen):
    model = ProjectClaim
    choice_columns = {"status": APPROVAL_STATUS}
    list_columns = ["project", "unit", "member", "claimed_on", "status"]
    search_columns = ["project", "unit", "claimed_on", "status", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = CLAIM_COLUMNS + ["area"] + APPROVAL_SHOWN
    add_columns = edit_columns = CLAIM_COLUMNS


class NeedView(ListView):
    model = Need
    list_columns = ["title", "category", "area", "proposer", "submitted_on", "status"]
    search_columns = ["title", "category", "status", "community", "submitted_on"]
    show_columns = NEED_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = NEED_COLUMNS


class ResourceView(ListView):
    model = Resource
    list_columns = ["title", "category", "unit", "area", "status"]
    search_columns = ["title", "category", "status", "unit", "community"]
    show_columns = RESOURCE_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = RESOURCE_COLUMNS


class ProjectView(ListView):
    model = Project
    list_columns = ["title", "category", "area", "starts_on", "ends_on", "status"]
    search_columns = ["title", "category", "status", "community", "starts_on"]
    show_columns = PROJECT_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = PROJECT_COLUMNS
    related_views = [ProjectClaimView]


class ListApi(ReviewApi, GongjianApi):
    choice_columns = CHOICES
    order_columns = ["id", "title"]


class NeedApi(ListApi):
    model = Need
    resource_name = "need"
    list_columns = ["id", "title", "category", "area_id", "community_id", "proposer", "submitted_on", "status"]
    show_columns = ["id"] + NEED_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = NEED_COLUMNS
    search_columns = ["title", "category", "status", "area", "community"]


class ResourceApi(ListApi):
    model = Resource
    resource_name = "resource"
    list_columns = ["id", "title", "category", "unit_id", "area_id", "community_id", "status"]
    show_columns = ["id"] + RESOURCE_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = RESOURCE_COLUMNS
    search_columns = ["title", "category", "status", "unit", "area", "community"]


class ProjectApi(ListApi):
    model = Project
    resource_name = "project"
    list_columns = ["id", "title", "category", "need_id", "area_id", "community_id", "starts_on", "ends_on",
                    "status"]
    show_columns = ["id"] + PROJECT_COLUMNS + APPROVAL_SHOWN
    add_columns = edit_columns = PROJECT_COLUMNS
    search_columns = ["title", "category", "status", "area", "community"]


class ProjectClaimApi(ReviewApi, GongjianApi):
    model = ProjectClaim
    resource_name = "project_claim"
    choice_columns = {"status": APPROVAL_STATUS}
    list_columns = ["id", "project_id", "unit_id", "member_id", "area_id", "claimed_on", "status"]
    show_columns = ["id"] + CLAIM_COLUMNS + ["area_id"] + APPROVAL_SHOWN
    add_columns = edit_columns = CLAIM_COLUMNS
    search_columns = ["project", "unit", "member", "status", "community"]
