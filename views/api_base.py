"""The base class of every REST resource (``GongjianApi``): FAB's ModelRestApi with the shared
rules wired in once — scope, the field policy on every schema (masking, what may be filtered),
the record rules of app/core/record_rules.py with the screens' messages, and every refusal answered
400 through the error map of app/core/errors.py."""
from flask_appbuilder import ModelRestApi
from flask_appbuilder.const import API_FILTERS_RIS_KEY
from marshmallow import validate as mm_validate

from app.core import duplicates, policy, record_rules
from app.core.audit import record_event
from app.core.errors import ERROR_PAGES, refusal_message, schema_messages
from app.core.filter_values import check_filters
from app.core.labels import LABELS
from app.core.request_args import request_body_schema
from app.core.scope import refuse_out_of_scope_targets
from app.extensions import db
from views import api_document
from views.base import ResourceMixin


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
        whole numbers within their column's database type (app/core/request_args.py)."""
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
        record_rules.check_delete(item)

    def _handle_filters_args(self, rison_args):
        """FAB's filters of a list request with each value checked and typed before any SQL runs
        (app/core/filter_values.py): one that does not parse answers 400 naming ``filters``."""
        self._filters.clear_filters()
        self._filters.rest_add_filters(rison_args.get(API_FILTERS_RIS_KEY, []))
        check_filters(self._filters, self)
        return self._filters.get_joined_filters(self._base_filters)

    def _answer_rule_violations(self, call):
        """A refusal (rules, scope, field policy, filter values, the database) answers 400 with
        what the error map (app/core/errors.py) says, the session rolled back; FAB's @safe would
        turn it into a 500. Any other error is a fault and passes unchanged."""
        try:
            return call()
        except Exception as exc:
            message = refusal_message(exc)
            if message is None:
                raise
            return self.response_400(message=message)

    def pre_add(self, item):
        # Relation targets first: no record rule may answer differently for an out-of-scope one.
        refuse_out_of_scope_targets(db.session, [item], existing_only=True)
        record_rules.raise_for_record(item, editing=False)
        duplicates.write_checked(item)

    def pre_update(self, item):
        refuse_out_of_scope_targets(db.session, [item], existing_only=True)
        record_rules.raise_for_record(item, editing=True)
        duplicates.write_checked(item)

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
        user's language. The database's refusals never get here: the interface raises them
        (app/core/scoped_interface.py) and the error map answers them."""
        return self.response_400(message=schema_messages(message))

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


