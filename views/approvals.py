"""The explicit approve / reject actions (审核通过 / 驳回) of every approved record's screens and
REST resource, built on the one state machine of app/approvals/.

Screens: two small forms on the show page of a pending record (POST with CSRF; 驳回 with its
reason) and a list bulk action 审核通过. API: ``POST /api/v1/<resource>/<id>/approve`` {note?}
and ``POST /api/v1/<resource>/<id>/reject`` {reason}. All need ``can_review`` on the resource
(app/core/roles.py) and find the record through the view's scoped datamodel (app/core/scope.py):
an out-of-scope id is 404 like a missing one — FAB's own action routes included, whose records
are looked up again here with the view's base filters (FAB skips them).
"""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.api import protect, safe
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length

from app.approvals import APPROVE, REJECT, DecisionRefused, NotAllowedToDecide, decide_all
from app.approvals.decisions import TEXT_MAX
from app.core.approvals import PENDING, reviewer_refusal
from app.core.audit import record_event
from app.core.duties import acting_person
from app.core.errors import flash_refusal, schema_messages
from app.core.roles import REVIEW
from views.base import METHOD_PERMISSIONS, GongjianModelView

REVIEW_ROUTES = ("approve", "reject", "approve_selected")
REVIEW_PERMISSIONS = {**METHOD_PERMISSIONS, **{name: REVIEW.removeprefix("can_") for name in REVIEW_ROUTES}}
# Shown on show pages and in the API's record, never in a form or a request body.
APPROVAL_SHOWN = ["status", "submitted_by", "reviewed_by", "reviewed_at", "review_note", "reject_reason"]

APPROVED_ONE = _l("The submission is approved")
REJECTED_ONE = _l("The submission is rejected")


class ReviewScreen(GongjianModelView):
    """A screen of approved records: 审核通过 / 驳回 on the show page, 审核通过 as a bulk action."""

    method_permission_name = REVIEW_PERMISSIONS
    show_template = "gongjian/approval_show.html"

    def render_template(self, template, **kwargs):
        if template == self.show_template and "pk" in kwargs:
            kwargs["review"] = self._review_urls(kwargs["pk"])
        return super().render_template(template, **kwargs)

    def _review_urls(self, pk):
        """The forms' targets when the signed-in user may decide this record now, else None."""
        if not self.appbuilder.sm.has_access(REVIEW, self.class_permission_name):
            return None
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or item.status != PENDING or reviewer_refusal(item, acting_person()) is not None:
            return None
        return {"approve": url_for(f"{self.endpoint}.approve", pk=pk),
                "reject": url_for(f"{self.endpoint}.reject", pk=pk)}

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    def approve(self, pk):
        """审核通过, with an optional note."""
        return self._decide(pk, APPROVE, request.form.get("note"), APPROVED_ONE)

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    def reject(self, pk):
        """驳回, with its reason."""
        return self._decide(pk, REJECT, request.form.get("reason"), REJECTED_ONE)

    def _decide(self, pk, decision, text, done):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        if self._decided([item], decision, text):
            flash(done, "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    def _decided(self, items, decision, text):
        """Decide ``items``; a refusal is flashed (and, the person's, audited as the API's 403 is)."""
        try:
            decide_all(items, decision, text, acting_person())
        except DecisionRefused as refused:
            if isinstance(refused, NotAllowedToDecide):
                record_event("denied", self.model.__tablename__, items[0].id, summary=f"{decision}: {refused}")
            flash_refusal(refused.messages())
            return False
        return True

    @action("approve_selected", _l("Approve"), _l("Approve all the selected submissions?"), "fa-check",
            single=False)
    def approve_selected(self, items):
        """Bulk 审核通过: every selected record, or none (an id out of scope or unknown: 404)."""
        items = items if isinstance(items, list) else [items]
        found = [self.datamodel.get(item.id, self._base_filters) if item is not None else None for item in items]
        if not found or any(item is None for item in found):
            abort(404)
        if self._decided(found, APPROVE, None):
            flash(_l("%(count)d submissions approved", count=len(found)), "success")
        return redirect(self.get_redirect())


class ApprovalNote(Schema):
    """The body of an approval: an optional note."""

    note = fields.String(allow_none=True, validate=Length(max=TEXT_MAX),
                         metadata={"description": "The reviewer's note (optional)"})


class RejectionReason(Schema):
    """The body of a rejection: its reason (required)."""

    reason = fields.String(required=True, validate=Length(min=1, max=TEXT_MAX),
                           metadata={"description": "Why the submission is rejected"})


class ReviewApi:
    """Mixed into a REST resource of approved records (before GongjianApi): ``<id>/approve`` and
    ``<id>/reject``, answering the record as GET does."""

    method_permission_name = REVIEW_PERMISSIONS
    openapi_spec_component_schemas = (ApprovalNote, RejectionReason)

    @expose("/<int:pk>/approve", methods=["POST"])
    @protect()
    @safe
    def approve(self, pk):
        """Approve a pending submission (审核通过): a reviewer in its scope, not its submitter.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            required: false
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ApprovalNote'
          responses:
            200:
              description: The approved record, as GET answers it
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
                      result:
                        type: object
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: The record is decided already (a decision is final)
        """
        return self._decide(pk, APPROVE, ApprovalNote(), "note")

    @expose("/<int:pk>/reject", methods=["POST"])
    @protect()
    @safe
    def reject(self, pk):
        """Reject a pending submission (驳回) with its reason: a reviewer in its scope, not its
        submitter.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RejectionReason'
          responses:
            200:
              description: The rejected record, as GET answers it
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
                      result:
                        type: object
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: The record is decided already (a decision is final)
        """
        return self._decide(pk, REJECT, RejectionReason(), "reason")

    def _decide(self, pk, decision, schema, field):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        body = request.get_json(silent=True)
        if body is None:
            body = {} if not request.get_data() else request.get_data(as_text=True)
        try:
            text = schema.load(body).get(field)
        except ValidationError as invalid:
            return self.response_400(message=schema_messages(invalid.messages))
        try:
            decide_all([item], decision, text, acting_person())
        except DecisionRefused as refused:
            return self.response(refused.http_status, message=refused.messages())
        return self.response(200, id=item.id, result=self.show_model_schema.dump(item))
