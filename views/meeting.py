"""Screens and API of joint meetings (联席会议 …), agenda items, resolutions (议定事项) and
meeting types; includes the printable minutes page (会议纪要)."""
from flask import abort
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from markupsafe import Markup, escape
from marshmallow import fields

from app.core import policy
from app.core.scoped_interface import ComputedColumnsInterface
from app.statistics.definitions import WARNING_BY_COLOUR, warning_colour, warning_sql
from models import MEETING_STATUS, RESOLUTION_STATUS, WARNING_LEVELS, AgendaItem, Meeting, MeetingType, Resolution
from views.api_base import GongjianApi
from views.base import AREA_SUBTREE, COMMUNITY_SEARCH, GongjianModelView

MEETING_COLUMNS = ["meeting_type", "title", "area", "status", "held_at", "place", "convener", "note_taker",
                   "attendees", "units", "minutes"]
RESOLUTION_COLUMNS = ["meeting", "title", "requirements", "lead_unit", "lead_person", "co_units", "co_owners",
                      "deadline", "status", "progress", "evidence", "evidence_file"]
AGENDA_COLUMNS = ["meeting", "seq", "title", "proposer", "discussion"]


# ---- the warning colour of a resolution: computed (app/statistics/definitions.py), not stored ----

def resolution_warning(resolution):
    """The resolution's warning colour today: "blue", "yellow", "red" or None."""
    return warning_colour(resolution.deadline, resolution.status)


def warning_formatter(colour):
    """A resolution's warning colour as a coloured label (蓝色 / 黄色 / 红色 预警)."""
    if not colour:
        return ""
    return Markup(f'<span class="label {WARNING_BY_COLOUR[colour].css} gj-warning gj-warning-{colour}">'
                  f'{escape(str(WARNING_LEVELS.label(colour)))}</span>')


class ResolutionInterface(ComputedColumnsInterface):
    """Resolutions as screens read them: their columns and relations, plus ``warning``, a column
    computed per row from the definitions (it has no SQL column to select, order or filter by)."""

    COMPUTED = {"warning": resolution_warning}


class ResolutionSchemas(policy.PolicySchemaConverter):
    """The API's schemas of resolutions: ``warning`` is dumped from the definitions."""

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        if datamodel.obj is Resolution and column.name in ResolutionInterface.COMPUTED:
            return fields.Function(ResolutionInterface.COMPUTED[column.name], dump_only=True)
        return super()._column2field(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)


class WithResolutionWarning:
    """Screens and APIs of resolutions read them through ``ResolutionInterface``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.datamodel = ResolutionInterface(cls.model, related_via=cls.related_via)


class AgendaItemView(GongjianModelView):
    model = AgendaItem
    list_columns = ["meeting", "seq", "title", "proposer"]
    search_columns = ["title", "proposer", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = add_columns = edit_columns = AGENDA_COLUMNS
    base_order = ("seq", "asc")


class ResolutionView(WithResolutionWarning, GongjianModelView):
    model = Resolution
    choice_columns = {"status": RESOLUTION_STATUS}
    list_columns = ["title", "meeting", "lead_person", "lead_unit", "deadline", "status", "warning"]
    order_columns = ["title", "lead_person", "deadline", "status"]  # not the computed warning
    search_columns = ["title", "status", "deadline", "lead_person", "lead_unit", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = RESOLUTION_COLUMNS + ["warning", "area", "signed_off_by", "signed_off_at"]
    formatters_columns = {"warning": warning_formatter}  # blue / yellow / red
    export_sql = {"warning": warning_sql}  # the same colour in exports, as SQL
    add_columns = edit_columns = RESOLUTION_COLUMNS
    base_order = ("deadline", "asc")


class MeetingScreen(GongjianModelView):
    """The meeting screen's settings, shared by the menu screen and the community tab."""

    choice_columns = {"status": MEETING_STATUS}
    list_columns = ["held_at", "meeting_type", "title", "area", "convener", "status"]
    search_columns = ["title", "meeting_type", "status", "held_at", "convener", "community"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = add_columns = edit_columns = MEETING_COLUMNS
    related_views = [AgendaItemView, ResolutionView]
    show_template = "gongjian/meeting_show.html"
    base_order = ("held_at", "desc")

    @expose("/minutes/<int:pk>")
    @has_access
    def print_minutes(self, pk):
        """A printable minutes page (会议纪要); out-of-scope ids are 404 like missing ones."""
        meeting = self.datamodel.get(pk)
        if meeting is None:
            abort(404)
        return self.render_template("gongjian/minutes.html", meeting=meeting, statuses=RESOLUTION_STATUS,
                                    locale=str(get_locale()))


class MeetingView(MeetingScreen):
    model = Meeting


class CommunityMeetingView(MeetingScreen):
    """An area's meetings, held in it or any node below it (a tab of the area screen)."""

    model = Meeting
    related_via = AREA_SUBTREE


class MeetingTypeView(GongjianModelView):
    model = MeetingType
    list_columns = ["name", "description", "active"]
    show_columns = add_columns = edit_columns = ["name", "description", "active"]
    base_order = ("id", "asc")


class MeetingApi(GongjianApi):
    model = Meeting
    resource_name = "meeting"
    choice_columns = {"status": MEETING_STATUS}
    list_columns = ["id", "meeting_type_id", "meeting_type.name", "title", "area_id", "community_id", "status",
                    "held_at", "place", "convener", "note_taker"]
    show_columns = ["id"] + MEETING_COLUMNS
    add_columns = edit_columns = MEETING_COLUMNS
    search_columns = ["title", "meeting_type", "status", "held_at", "area", "community"]
    order_columns = ["id", "held_at", "title"]


class ResolutionApi(WithResolutionWarning, GongjianApi):
    model = Resolution
    resource_name = "resolution"
    model2schemaconverter = ResolutionSchemas
    choice_columns = {"status": RESOLUTION_STATUS}
    list_columns = ["id", "meeting_id", "title", "area_id", "community_id", "lead_unit_id", "lead_person",
                    "co_owners", "deadline", "status", "signed_off_by", "signed_off_at", "warning"]
    show_columns = ["id"] + [c for c in RESOLUTION_COLUMNS if c != "evidence_file"] + [
        "area_id", "signed_off_by", "signed_off_at", "warning"]
    add_columns = edit_columns = [c for c in RESOLUTION_COLUMNS if c != "evidence_file"]
    search_columns = ["title", "status", "deadline", "meeting", "lead_unit", "area", "community"]
    order_columns = ["id", "deadline", "status"]


class AgendaItemApi(GongjianApi):
    model = AgendaItem
    resource_name = "agenda_item"
    list_columns = show_columns = ["id", "meeting_id", "area_id", "seq", "title", "proposer", "discussion"]
    add_columns = edit_columns = AGENDA_COLUMNS
    search_columns = ["meeting", "title"]


class MeetingTypeApi(GongjianApi):
    model = MeetingType
    resource_name = "meeting_type"
    list_columns = show_columns = ["id", "name", "description", "active"]
    add_columns = edit_columns = ["name", "description", "active"]
