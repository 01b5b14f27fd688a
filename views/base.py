"""The base classes of every screen (``GongjianBaseView``, ``GongjianModelView``) and what
screens and REST resources share (``ResourceMixin``: permissions per resource, the scoped
datamodel, personal fields). A screen is scoped (``ScopedInterface``), labelled in Chinese, shows
choices by label, masks personal data and runs the record rules of app/core/record_rules.py; its
refusals are told in the words of the error map (app/core/errors.py). The REST base class is in
views/api_base.py."""
from contextlib import contextmanager

from flask import abort, after_this_request, flash, redirect
from flask_appbuilder import ModelView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField
from wtforms.validators import DataRequired, Optional

from app.attachments import send_attachment
from app.core import duplicates, policy, record_rules
from app.core.audit import is_audited
from app.core.errors import flash_refusal, refusal_message, refusal_reasons
from app.core.filter_values import FilterValueInvalid, NoRows, check_filters
from app.core.labels import LABELS, TABLE_LABELS
from app.core.refusals import RecordInvalid
from app.core.scoped_interface import ScopedInterface
from app.exports.resources import resource_for_view
from app.extensions import db
from models import AuditLog
from models.area import subtree_area_ids
from views.audit_display import HistoryEntry
from views.labels import DESCRIPTIONS
from views.personal import PersonalDataScreen, keeps_hidden_values, personal_data_formatter

# FAB method name → the one permission ("can_read" / "can_write") of the resource.
READ_METHODS = (
    "list", "show", "download", "api", "api_read", "api_get", "api_readvalues",
    "get", "get_list", "info", "related", "distinct", "print_minutes", "reveal",
)
WRITE_METHODS = (
    "add", "edit", "delete", "action", "action_post", "muldelete", "api_create", "api_update", "api_delete",
    "api_column_add", "api_column_edit", "post", "put", "bulk_delete",
)
METHOD_PERMISSIONS = {**{m: "read" for m in READ_METHODS}, **{m: "write" for m in WRITE_METHODS}}


BLANK_CHOICE = _l("(none)")


def plain_formatter(value):
    """How a cell shows a value: nothing for empty, 是/否 for booleans, lists joined."""
    if value is None:
        return ""
    if value is True:
        return _l("Yes")
    if value is False:
        return _l("No")
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return value


def choice_formatter(choices):
    return lambda code: choices.label(code) if code is not None else ""


class ResourceMixin:
    """What screens and APIs of one model share: permission name, datamodel, masked columns."""

    model = None
    related_via = None  # see ScopedInterface.related_via
    method_permission_name = METHOD_PERMISSIONS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("model") is not None:
            cls.datamodel = ScopedInterface(cls.model, related_via=cls.related_via)
            cls.class_permission_name = cls.__dict__.get("class_permission_name") or cls.model.__name__

    @classmethod
    def masked_columns(cls):
        """The model's personal fields (the field policy's entry for it)."""
        return policy.personal_fields(cls.model)


class GongjianBaseView(PersonalDataScreen, ResourceMixin, ModelView):
    """A screen: scoped, labelled in Chinese, choices shown by label, masked, validated."""

    choice_columns = {}  # column -> models.base.Choices
    page_size = 20
    base_order = ("id", "desc")
    list_template = "gongjian/list.html"
    show_template = "gongjian/show.html"
    history_size = 50

    def __init__(self, **kwargs):
        self.label_columns = {**LABELS, **(self.label_columns or {})}
        self.description_columns = {**DESCRIPTIONS, **(self.description_columns or {})}
        name = TABLE_LABELS.get(self.model.__tablename__, self.model.__name__)
        self.list_title = self.list_title or name
        self.show_title = self.show_title or _l("%(name)s: details", name=name)
        self.add_title = self.add_title or _l("Add %(name)s", name=name)
        self.edit_title = self.edit_title or _l("Edit %(name)s", name=name)
        formatters = {col: plain_formatter for col in
                      set(self.list_columns or []) | set(self.show_columns or [])}
        formatters.update({col: choice_formatter(ch) for col, ch in self.choice_columns.items()})
        formatters.update({col: personal_data_formatter(k) for col, k in self.masked_columns().items()})
        self.formatters_columns = {**formatters, **(self.formatters_columns or {})}
        extra = {col: self._choice_field(col, ch) for col, ch in self.choice_columns.items()}
        self.add_form_extra_fields = {**extra, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}
        super().__init__(**kwargs)
        self.datamodel.eager_relationships = tuple(
            col for col in (self.list_columns or []) if self.datamodel.is_relation_many_to_one(col))

    def _choice_field(self, col, choices):
        required = not self.model.__table__.c[col].nullable
        blank = [] if required else [("", BLANK_CHOICE)]
        return SelectField(
            self.label_columns.get(col, col),
            choices=blank + [(code, label) for code, label in choices],
            coerce=lambda value: value or None,
            validators=[DataRequired()] if required else [Optional()],
            widget=Select2Widget(),
            description=DESCRIPTIONS.get(col, ""),
        )

    def _init_forms(self):
        super()._init_forms()
        for form_class in (self.add_form, self.edit_form):
            for name in dir(form_class):
                field = getattr(form_class, name, None)
                if getattr(field, "field_class", None) in (QuerySelectField, QuerySelectMultipleField):
                    field.kwargs["blank_text"] = BLANK_CHOICE  # FAB leaves "__None" on screen
        self.add_form = record_rules.form_with_record_rules(self.add_form, self.model, editing=False)
        self.edit_form = keeps_hidden_values(
            record_rules.form_with_record_rules(self.edit_form, self.model, editing=True), self.model)

    def pre_delete(self, item):
        with told_on_screen():
            record_rules.check_delete(item)

    def pre_add(self, item):
        with told_on_screen():
            duplicates.write_checked(item)  # a unique-key race answers like the duplicate rules

    def pre_update(self, item):
        with told_on_screen():
            duplicates.write_checked(item)

    def _get_related_view_widget(self, item, related_view, order_column="", order_direction="", page=None,
                                 page_size=None):
        """A tab of related records: none at all when the role may not read them (FAB does not
        check), records anywhere below an area for AREA_SUBTREE tabs, else FAB's foreign key."""
        if not self.appbuilder.sm.has_access("can_read", related_view.class_permission_name):
            return None
        if related_view.related_via != AREA_SUBTREE:
            return super()._get_related_view_widget(item, related_view, order_column, order_direction,
                                                    page=page, page_size=page_size)
        filters = related_view.datamodel.get_filters()
        filters.add_filter_related_view("area", FilterAreaSubtree, item.path)
        return related_view._get_view_widget(
            filters=filters, order_column=order_column, order_direction=order_direction, page=page,
            page_size=page_size)

    def render_template(self, template, **kwargs):
        """Drop the tabs whose widget is None (not readable by the role, or no relation); give a
        list screen the resource its 导出 buttons export."""
        if template == self.list_template:
            kwargs.setdefault("export_resource", resource_for_view(self))
        if template == self.show_template and "pk" in kwargs:
            kwargs["audit_history"] = self._audit_history(kwargs["pk"])
            kwargs["reveal_url"] = self.reveal_url(kwargs["pk"])
        views, widgets = kwargs.get("related_views"), kwargs.get("widgets")
        if views and widgets and widgets.get("related_views") is not None:
            pairs = [(view, widget) for view, widget in zip(views, widgets["related_views"]) if widget is not None]
            kwargs["related_views"] = [view for view, _ in pairs]
            widgets["related_views"] = [widget for _, widget in pairs]
        return super().render_template(template, **kwargs)

    def _audit_history(self, pk):
        """The record's change history (修改记录), for roles that may read the audit log."""
        if not self.appbuilder.sm.has_access("can_read", "AuditLog") or not is_audited(self.model):
            return None
        entries = db.session.execute(
            select(AuditLog).where(AuditLog.record_type == self.model.__tablename__,
                                   AuditLog.record_id == str(pk))
            .order_by(AuditLog.id.desc()).limit(self.history_size)).scalars()
        return [HistoryEntry(entry) for entry in entries]

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        """An attachment (FileColumn): only of a record the user may see, audited; 404 for any
        other name (FAB's own route sends any file of the upload folder to any reader)."""
        return send_attachment(self, filename)

    def _get_list_widget(self, filters, **kwargs):
        """A filter value that does not parse (app/core/filter_values.py) is refused, never dropped:
        the page says why, lists no rows and answers 400."""
        try:
            check_filters(filters, self)
        except FilterValueInvalid as exc:
            for reason in refusal_reasons(refusal_message(exc)):
                flash(str(_l("Bad filter value: %(reason)s", reason=reason)), "danger")
            after_this_request(_answer_400)
            filters = filters.copy().add_filter("id", NoRows, None)
        return super()._get_list_widget(filters, **kwargs)


def _answer_400(response):
    response.status_code = 400
    return response


class ScreenRefusal(Exception):
    """A refusal as FAB's add, edit and delete screens show it: they flash ``str(exc)``, which
    is here the reasons of the error map (app/core/errors.py), never SQL or a field's code."""

    def __init__(self, message):
        super().__init__("; ".join(refusal_reasons(message)))


@contextmanager
def told_on_screen():
    """Around a screen's write hook: a refusal (rule, scope, database) raises a ScreenRefusal
    with the map's words; any other error is a fault and passes unchanged."""
    try:
        yield
    except Exception as exc:
        message = refusal_message(exc)
        if message is None:
            raise
        raise ScreenRefusal(message) from exc


class GongjianModelView(GongjianBaseView):
    """A CRUD screen with bulk delete of the selected rows (only rows in scope are found)."""

    @action("muldelete", _l("Delete"), _l("Delete all the selected records?"), "fa-trash", single=False)
    def muldelete(self, items):
        items = [item for item in (items if isinstance(items, list) else [items]) if item is not None]
        if not items:
            abort(404)
        try:
            for item in items:
                record_rules.check_delete(item)
        except RecordInvalid as exc:
            flash_refusal(refusal_message(exc))
            return redirect(self.get_redirect())
        self.datamodel.delete_all(items)
        flash(_l("Deleted %(count)d records", count=len(items)), "success")
        self.update_redirect()
        return redirect(self.get_redirect())


AREA_SUBTREE = "area_subtree"


class FilterAreaSubtree(BaseFilter):
    """Records whose area lies under the area with the given path (related tabs of an area)."""

    name = _l("In area")
    arg_name = "area_subtree"

    def apply(self, query, value):
        return query.filter(self.model.area_id.in_(subtree_area_ids(value)))


# Search by community (a dropdown of communities only, not of every grid: see STACK-NOTES).
COMMUNITY_SEARCH = {"community": [["level", FilterEqual, "community"]]}
