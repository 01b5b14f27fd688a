"""FAB's account and role screens in the words of the office: roles by their Chinese names
(系统管理员, 社区管理员…) instead of codes, and permissions as "读取 · 在职党员" instead of
"can read on PartyMember". The security manager (views/security.py) uses these views."""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import Model, expose
from flask_appbuilder.models.sqla.filters import FilterNotEqual
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.views import ResetMyPasswordView, ResetPasswordView, RoleModelView, UserDBModelView
from flask_appbuilder.widgets import ListWidget, ShowWidget
from flask_babel import lazy_gettext as _l

from app.core import passwords
from app.core.duties import PRIVILEGED, DutiesRefused, check_account, check_password_reset, refuse_and_audit
from app.core.labels import TABLE_LABELS
from app.core.roles import ROLE_LABELS
from views.menu import MENU

PERMISSION_LABELS = {
    "can_read": _l("Read"),
    "can_write": _l("Write"),
    "can_view": _l("View in full"),
    "menu_access": _l("Menu"),
    "can_list": _l("List"),
    "can_show": _l("Show"),
    "can_add": _l("Add"),
    "can_edit": _l("Edit"),
    "can_delete": _l("Delete"),
    "can_get": _l("Read"),
    "can_this_form_get": _l("Open the form"),
    "can_this_form_post": _l("Submit the form"),
    "can_userinfo": _l("Own profile"),
    "resetmypassword": _l("Change own password"),
}
RESOURCE_LABELS = {
    "PersonalData": _l("Personal data (ID-card and phone numbers)"),
    "Report": _l("Statistics"),
    "ExportJob": _l("My exports"),
    "OpenApi": _l("API document (OpenAPI)"),
    "SwaggerView": _l("API document page"),
    "ResetMyPasswordView": _l("Change own password"),
    "ResetPasswordView": _l("Reset a password"),
    "UserInfoEditView": _l("Own profile"),
    "UserDBModelView": _l("Users"),
    "RoleModelView": _l("Roles"),
    "List Users": _l("Users"),
    "List Roles": _l("Roles"),
}


def role_label(name):
    label = ROLE_LABELS.get(name)
    return f"{label} ({name})" if label is not None else name


def role_labels(roles):
    return "、".join(role_label(role.name) for role in roles or [])


def resource_label(name):
    """A permission's resource: the model's table label when the name is a model class."""
    if name in RESOURCE_LABELS:
        return str(RESOURCE_LABELS[name])
    menu = menu_labels()
    if name in menu:
        return str(menu[name])
    for mapper in Model.registry.mappers:
        if mapper.class_.__name__ == name:
            label = TABLE_LABELS.get(mapper.class_.__tablename__)
            return str(label) if label is not None else name
    return name


def menu_labels():
    """Menu entries and categories (the names menu_access permissions carry) → their labels."""
    labels = {}
    for category, category_label, _icon, items in MENU:
        labels[category] = category_label
        for _view, name, label, _item_icon in items:
            labels[name] = label
    return labels


def permission_label(permission_view):
    permission = permission_view.permission.name
    action = PERMISSION_LABELS.get(permission)
    action = str(action) if action is not None else permission
    return f"{action} · {resource_label(permission_view.view_menu.name)}"


def permission_labels(permission_views):
    return "；".join(sorted(permission_label(pv) for pv in permission_views or []))


class GongjianUserDBModelView(UserDBModelView):
    class_permission_name = "UserDBModelView"  # the permissions app/core/roles.py grants
    formatters_columns = {"roles": role_labels}
    # The security administrator gives business roles only (app/core/duties.py).
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "roles": [["name", FilterNotEqual, name] for name in PRIVILEGED]}

    def pre_add(self, item):
        super().pre_add(item)
        refuse_and_audit(check_account, item)

    def pre_update(self, item):
        super().pre_update(item)
        refuse_and_audit(check_account, item)

    def pre_delete(self, item):
        super().pre_delete(item)
        refuse_and_audit(check_account, item, True)

    def _init_forms(self):
        """The roles dropdown lists each role by its Chinese name (the audit keeps the codes)."""
        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            field = getattr(form, "roles", None)
            if field is not None:
                field.kwargs["get_label"] = lambda role: role_label(role.name)


class GongjianRoleModelView(RoleModelView):
    class_permission_name = "RoleModelView"
    search_columns = ["name"]  # not a dropdown of every permission under its code
    list_widget = ListWidget  # FAB's role widgets ignore formatters
    show_widget = ShowWidget
    formatters_columns = {"name": role_label, "permissions": permission_labels}



class GongjianResetPasswordView(ResetPasswordView):
    """FAB's form resetting another account's password, refused for a privileged account (FAB
    said "Password changed" even when the write failed)."""

    class_permission_name = "ResetPasswordView"  # the permissions app/core/roles.py grants

    def form_post(self, form):
        account = self.appbuilder.sm.get_user_by_id(request.args.get("pk"))
        if account is None:
            abort(404)
        try:
            refuse_and_audit(check_password_reset, account)
        except DutiesRefused as refused:
            flash(str(refused), "danger")
            return None
        try:  # the policy, and the account's last passwords (app/core/passwords.py)
            passwords.check_new_password(form.password.data, account)
        except passwords.PasswordRefused as refused:
            form.password.errors = [*form.password.errors, *refused.messages()["password"]]
            return self.render_template(self.form_template, title=self.form_title, appbuilder=self.appbuilder,
                                        widgets=self._get_edit_widget(form=form))
        # The owner must choose their own at the next login (the session hook records who set it).
        return super().form_post(form)


class GongjianResetMyPasswordView(ResetMyPasswordView):
    """FAB's own-password form sends to the one that asks for the current password and applies
    the policy and history (views/password.py PasswordChangeView)."""

    class_permission_name = "ResetMyPasswordView"

    @expose("/form", methods=["GET"])
    @has_access
    def this_form_get(self):
        return redirect(url_for("PasswordChangeView.change"))

    @expose("/form", methods=["POST"])
    @has_access
    def this_form_post(self):
        return redirect(url_for("PasswordChangeView.change"))
