"""Base classes of every screen and REST API. They wire in the shared rules once:
scope (``ScopedInterface``), read/write permissions per resource, choice labels, masking of
personal data, and the record rules of app/validation.py (same messages on screen and API)."""
from flask import abort, after_this_request, flash, redirect
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.const import API_FILTERS_RIS_KEY
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_babel import lazy_gettext as _l
from marshmallow import validate as mm_validate
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from wtforms import SelectField
from wtforms.validators import DataRequired, Optional

from app import validation
from app.core import policy
from app.audit import record_event
from app.errors import ERROR_PAGES, api_messages, database_refusal
from app.export_files import send_attachment
from app.extensions import db
from app.filter_values import FilterValueInvalid, NoRows, check_filters
from app.request_args import request_body_schema
from app.scope import ScopedInterface, ScopeViolation, refuse_out_of_scope_targets, subtree_area_ids
from flask_appbuilder.models.filters import BaseFilter
from views import api_document
from views.labels import DESCRIPTIONS, LABELS, TABLE_LABELS
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
        self.add_form = validation.form_with_record_rules(self.add_form, self.model, editing=False)
        self.edit_form = keeps_hidden_values(
            validation.form_with_record_rules(self.edit_form, self.model, editing=True), self.model)

    def pre_delete(self, item):
        validation.check_delete(item)

    def pre_add(self, item):
        validation.write_checked(item)  # a unique-key race answers like the duplicate rules

    def pre_update(self, item):
        validation.write_checked(item)

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
            from app.exports import resource_for_view

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
        if not self.appbuilder.sm.has_access("can_read", "AuditLog") or not getattr(self.model, "__audited__", False):
            return None
        from models import AuditLog
        from views.audit_display import HistoryEntry

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
        """A filter value that does not parse (app/filter_values.py) is refused, never dropped:
        the page says why, lists no rows and answers 400."""
        try:
            check_filters(filters, self)
        except FilterValueInvalid as exc:
            flash(str(_l("Bad filter value: %(reason)s", reason=exc.message)), "danger")
            after_this_request(_answer_400)
            filters = filters.copy().add_filter("id", NoRows, None)
        return super()._get_list_widget(filters, **kwargs)


def _answer_400(response):
    response.status_code = 400
    return response


class GongjianModelView(GongjianBaseView):
    """A CRUD screen with bulk delete of the selected rows (only rows in scope are found)."""

    @action("muldelete", _l("Delete"), _l("Delete all the selected records?"), "fa-trash", single=False)
    def muldelete(self, items):
        items = [item for item in (items if isinstance(items, list) else [items]) if item is not None]
        if not items:
            abort(404)
        try:
            for item in items:
                validation.check_delete(item)
        except validation.RecordInvalid as exc:
            for messages in exc.messages().values():
                for message in messages:
                    flash(message, "danger")
            return redirect(self.get_redirect())
        self.datamodel.delete_all(items)
        flash(_l("Deleted %(count)d records", count=len(items)), "success")
        self.update_redirect()
        return redirect(self.get_redirect())


class GongjianApi(ResourceMixin, ModelRestApi):
    """A REST resource: scoped, masked in lists, validated by the same record rules."""

    allow_browser_login = False  # cookie-authenticated API calls would bypass CSRF
    model2schemaconverter = policy.PolicySchemaConverter  # the field policy on every field, nested too
    page_size = 20
    base_order = ("id", "desc")
    choice_columns = {}

    def __init__(self):
        self.validators_columns = {
            **{col: mm_validate.OneOf(ch.codes) for col, ch in self.choice_columns.items()},
            **(self.validators_columns or {}),
        }
        self.label_columns = {**LABELS, **(self.label_columns or {})}
        super().__init__()

    def _init_model_schemas(self):
        """The schemas of request bodies, whichever converter made them: relations by id only and
        whole numbers within their column's database type (app/request_args.py)."""
        super()._init_model_schemas()
        for schema in (self.add_model_schema, self.edit_model_schema):
            request_body_schema(schema, self.datamodel.list_columns)

    def post_headless(self):
        return self._answer_rule_violations(super().post_headless)

    def put_headless(self, pk):
        return self._answer_rule_violations(lambda: super(GongjianApi, self).put_headless(pk))

    def delete_headless(self, pk):
        return self._answer_rule_violations(lambda: super(GongjianApi, self).delete_headless(pk))

    def _merge_update_item(self, model_item, data):
        """PUT is a PATCH: fields not sent keep the stored value. FAB fills them from a dump of
        the record, which the field policy masks: personal fields take the stored value instead."""
        given = set(data)
        merged = super()._merge_update_item(model_item, data)
        for column in policy.personal_fields(self.model):
            if column in merged and column not in given:
                merged[column] = getattr(model_item, column)
        return merged

    def info_headless(self, **kwargs):
        """``_info`` offers no filter on a field the user may not query by (the field policy)."""
        response = super().info_headless(**kwargs)
        payload = response.get_json()
        if response.status_code != 200 or not isinstance(payload.get("filters"), dict):
            return response
        payload["filters"] = {col: ops for col, ops in payload["filters"].items()
                              if col in policy.queryable(self.model, [col])}
        return self.response(200, **payload)

    def get_list_headless(self, **kwargs):
        def listed():
            policy.refuse_personal_keys(self.model, policy.api_query_keys(kwargs.get("rison")))
            return super(GongjianApi, self).get_list_headless(**kwargs)
        return self._answer_rule_violations(listed)

    def get_headless(self, pk, **kwargs):
        return self._answer_rule_violations(lambda: super(GongjianApi, self).get_headless(pk, **kwargs))

    def pre_delete(self, item):
        validation.check_delete(item)

    def _handle_filters_args(self, rison_args):
        """FAB's filters of a list request with each value checked and typed before any SQL runs
        (app/filter_values.py): one that does not parse answers 400 naming ``filters``."""
        self._filters.clear_filters()
        self._filters.rest_add_filters(rison_args.get(API_FILTERS_RIS_KEY, []))
        check_filters(self._filters, self)
        return self._filters.get_joined_filters(self._base_filters)

    def _answer_rule_violations(self, call):
        """Rule and scope violations answer 400 with {field: [reasons]}; FAB's @safe would
        turn them into a 500. The session is rolled back: nothing is half-written."""
        try:
            return call()
        except validation.RecordInvalid as exc:
            db.session.rollback()
            return self.response_400(message=exc.messages())
        except (ScopeViolation, policy.PersonalFieldRefused, FilterValueInvalid) as exc:
            db.session.rollback()
            return self.response_400(message={exc.field: [str(exc.message)]})
        except (IntegrityError, DataError) as exc:  # a unique key taken by a concurrent writer: audited, 400;
            refusal = validation.unique_violation(exc) if isinstance(exc, IntegrityError) else None
            if refusal is None:  # any other refusal of the database: 400 too, without its SQL
                return self.response_400(message=database_refusal(exc))
            return self.response_400(message=refusal.messages())

    def pre_add(self, item):
        # Relation targets first: no record rule may answer differently for an out-of-scope one.
        refuse_out_of_scope_targets(db.session, [item], existing_only=True)
        validation.raise_for_record(item, editing=False)
        validation.write_checked(item)

    def pre_update(self, item):
        refuse_out_of_scope_targets(db.session, [item], existing_only=True)
        validation.raise_for_record(item, editing=True)
        validation.write_checked(item)

    def pre_get_list(self, data):
        """A page of full personal values is one audit entry (the schema masked it otherwise)."""
        rows = data.get("result") or []
        shown = policy.personal_paths(self.list_model_schema)
        if rows and shown and policy.sees_in_full():
            record_event("reveal", self.model.__tablename__, None,
                         details={"columns": shown, "rows": len(rows), "ids": data.get("ids", [])[:100]})

    def pre_get(self, data):
        shown = policy.personal_paths(self.show_model_schema)
        if shown and policy.sees_in_full():
            record_event("reveal", self.model.__tablename__, data.get("id"), details={"columns": shown})

    def response_422(self, message=None):
        """Validation errors answer 400 with {field: [reasons]} (FAB would say 422), in the
        user's language, never SQL (app/errors.py api_messages)."""
        return self.response_400(message=api_messages(message))

    def response_404(self):
        """The screens' words for a record that does not exist or is out of scope (FAB: "Not found")."""
        return self.response(404, message=str(ERROR_PAGES[404][1]))

    def add_api_spec(self, api_spec):
        super().add_api_spec(api_spec)
        api_document.correct(api_spec, self)

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        """FAB translates a missing label or description: gettext("") is the catalogue's header."""
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        for key, given in (("label", self.label_columns), ("description", self.description_columns)):
            if not given.get(field.name):
                info[key] = ""
        return info


AREA_SUBTREE = "area_subtree"


class FilterAreaSubtree(BaseFilter):
    """Records whose area lies under the area with the given path (related tabs of an area)."""

    name = _l("In area")
    arg_name = "area_subtree"

    def apply(self, query, value):
        return query.filter(self.model.area_id.in_(subtree_area_ids(value)))


# Search by community (a dropdown of communities only, not of every grid: see STACK-NOTES).
COMMUNITY_SEARCH = {"community": [["level", FilterEqual, "community"]]}
