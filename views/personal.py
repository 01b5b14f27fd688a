"""Personal data on screens, through the field policy of app/core/policy.py.

Screens show personal fields masked to everyone. A role holding ``can_view PersonalData`` sees
a record's values in full only by the explicit act 查看完整信息 (reveal) with a reason, which the
audit log records. Edit forms never pre-fill a personal value (a blank field keeps the stored
one), and the search form offers no personal field to a user who may not query by it.
"""
from flask import abort, flash, g, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l

from app.core import policy
from app.core.audit import record_event

REASON_MIN, REASON_MAX = 2, 200


def revealing():
    """Whether this request is a 查看完整信息 (set only after the reason was given and logged)."""
    return bool(g.get("_reveal_personal")) and policy.sees_in_full()


def personal_data_formatter(kind):
    """A screen cell of a personal field: masked unless this request is a reveal."""
    return lambda value: policy.shown(kind, value, full=revealing())


def keeps_hidden_values(form_class, model):
    """An edit form class where a personal field left blank keeps the stored value: the field
    is dropped before validation, so neither the rules nor ``populate_obj`` see it."""
    personal = policy.personal_fields(model)

    class KeepsHiddenValues(form_class):
        kept = ()

        def validate(self, extra_validators=None):
            # Out of the form while it validates (the rules then read the stored value), back in
            # afterwards, blank, so a form with errors shows again without the value.
            self.kept = {name: self._fields[name] for name in personal
                         if name in self._fields and not str(self._fields[name].data or "").strip()}
            for name in self.kept:
                del self[name]
            try:
                return super().validate(extra_validators=extra_validators)
            finally:
                for name, field in self.kept.items():
                    self._fields[name] = field
                    setattr(self, name, field)

        def populate_obj(self, obj):
            for name, field in self._fields.items():
                if name not in self.kept:
                    field.populate_obj(obj, name)

    KeepsHiddenValues.__name__ = form_class.__name__
    return KeepsHiddenValues


class PersonalDataScreen:
    """Mixed into every screen (views/base.py GongjianBaseView)."""

    def personal_columns(self):
        return policy.personal_fields(self.model, include_secrets=False)

    def prefill_form(self, form, pk):
        """Never put a stored personal value into a form: show it masked as a hint instead."""
        item = self.datamodel.get(pk)
        for name, kind in self.personal_columns().items():
            if name in form._fields:
                field = form._fields[name]
                stored = getattr(item, name, None) if item is not None else None
                field.data = ""
                if stored:
                    field.description = _l("Now %(masked)s (masked). Leave blank to keep it.",
                                           masked=policy.mask(kind, stored))

    def _list(self, **kwargs):
        """Any filter or sort on a personal field the user may not query by: 400, before FAB
        reads the arguments (FAB would ignore the ones it does not offer, the rest run)."""
        try:
            policy.refuse_personal_keys(self.model, policy.screen_query_keys(request.args))
        except policy.PersonalFieldRefused as exc:
            raise policy.PersonalFieldRefused(exc.field, self.label_columns.get(exc.field, exc.field)) from exc
        return super()._list(**kwargs)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        refused = [name for name in self.search_columns or [] if policy.is_refused_key(self.model, name)]
        return super()._get_search_widget(form=form, exclude_cols=list(exclude_cols or []) + refused,
                                          widgets=widgets)

    def reveal_url(self, pk):
        """The 查看完整信息 form's target on a show page, for a role that may use it."""
        if self.personal_columns() and policy.sees_in_full() and not revealing():
            return url_for(f"{self.endpoint}.reveal", pk=pk)
        return None

    @expose("/reveal/<pk>", methods=["POST"])
    @has_access
    def reveal(self, pk):
        """查看完整信息: the show page with full values, after a reason; audited with the reason."""
        if not self.personal_columns() or not policy.sees_in_full():
            abort(403)
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        reason = (request.form.get("reason") or "").strip()
        if not REASON_MIN <= len(reason) <= REASON_MAX:
            flash(_l("Give the reason for seeing the full values (%(min)d to %(max)d characters)",
                     min=REASON_MIN, max=REASON_MAX), "danger")
            return self._render_show(pk, item), 400
        record_event("reveal", self.model.__tablename__, pk, summary=str(item),
                     details={"columns": sorted(self.personal_columns()), "reason": reason})
        g._reveal_personal = True
        return self._render_show(pk, item)

    def _render_show(self, pk, item):
        """The record alone: its related tabs stay out, so the reveal covers this record only."""
        return self.render_template(self.show_template, pk=pk, title=self.show_title,
                                    widgets=self._get_show_widget(pk, item), related_views=[])
