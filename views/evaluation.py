"""Screens and API of evaluations (评议) and the grade scale an admin edits."""
from models import LETTER_STATES, Evaluation, GradeOption
from views.api_base import GongjianApi
from views.base import COMMUNITY_SEARCH, GongjianModelView

EVALUATION_COLUMNS = ["period", "member", "grade", "comment", "letter_state", "letter_sent_on"]


class EvaluationView(GongjianModelView):
    model = Evaluation
    choice_columns = {"letter_state": LETTER_STATES}
    list_columns = ["period", "member", "area", "grade", "letter_state", "letter_sent_on"]
    search_columns = ["period", "grade", "letter_state", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = EVALUATION_COLUMNS + ["area"]
    add_columns = edit_columns = EVALUATION_COLUMNS


class GradeOptionView(GongjianModelView):
    model = GradeOption
    list_columns = ["name", "rank", "requires_checkin", "active"]
    show_columns = add_columns = edit_columns = ["name", "rank", "requires_checkin", "active"]
    base_order = ("rank", "desc")


class EvaluationApi(GongjianApi):
    model = Evaluation
    resource_name = "evaluation"
    choice_columns = {"letter_state": LETTER_STATES}
    list_columns = ["id", "period", "member_id", "member.name", "area_id", "community_id", "grade_id",
                    "grade.name", "letter_state", "letter_sent_on"]
    show_columns = ["id"] + EVALUATION_COLUMNS + ["area_id"]
    add_columns = edit_columns = EVALUATION_COLUMNS
    search_columns = ["period", "member", "grade", "letter_state", "area", "community"]


class GradeOptionApi(GongjianApi):
    model = GradeOption
    resource_name = "grade_option"
    list_columns = show_columns = ["id", "name", "rank", "requires_checkin", "active"]
    add_columns = edit_columns = ["name", "rank", "requires_checkin", "active"]
