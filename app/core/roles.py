"""The shipped roles and exactly what each may do (三员分立: the system admin, the security admin
and the auditor are different people; no role may edit or delete the audit log).

Each resource has two permissions, ``can_read`` and ``can_write`` (views/base.py maps FAB's
methods onto them), and a record that is approved (``REVIEWED``) a third, ``can_review``: approve
or reject it (app/approvals/); ``sync_roles`` makes the database match this table exactly.
"""
from flask_babel import lazy_gettext as _l

BUSINESS = ["Area", "Unit", "UnitCheckin", "Agreement", "PartyMember", "MemberCheckin", "Need", "Resource",
            "Project", "ProjectClaim", "ServiceRecord", "Evaluation", "Meeting", "AgendaItem", "Resolution",
            "UnitReport"]
# Records approved or rejected by a reviewer (models.lists.ApprovalMixin).
REVIEWED = ["Need", "Resource", "Project", "ProjectClaim"]
REVIEW = "can_review"
REFERENCE = ["GradeOption", "MeetingType", "PostCategory", "ServiceQuota", "Setting"]
PERSONAL_DATA = ("can_view", "PersonalData")
# Every signed-in user may edit their own profile and password.
SELF_SERVICE = [("can_userinfo", "UserDBModelView"), ("resetmypassword", "UserDBModelView"),
                ("can_this_form_get", "ResetMyPasswordView"), ("can_this_form_post", "ResetMyPasswordView"),
                ("can_this_form_get", "UserInfoEditView"), ("can_this_form_post", "UserInfoEditView"),
                ("can_get", "OpenApi"), ("can_show", "SwaggerView")]
SECURITY_VIEWS = [(p, "UserDBModelView") for p in ("can_list", "can_show", "can_add", "can_edit", "can_delete")] + [
    (p, "RoleModelView") for p in ("can_list", "can_show")] + [  # roles are this table: read only
    ("can_this_form_get", "ResetPasswordView"), ("can_this_form_post", "ResetPasswordView"),
    ("menu_access", "List Users"), ("menu_access", "List Roles"), ("menu_access", "Security")]


def _read(*resources):
    return [("can_read", r) for r in resources]


def _write(*resources):
    return [("can_read", r) for r in resources] + [("can_write", r) for r in resources]


def _review(*resources):
    return [(REVIEW, r) for r in resources]


ROLES = {
    "Admin": _write(*REFERENCE, "Area") + _read(*BUSINESS),
    "SecurityAdmin": SECURITY_VIEWS + _write("UserScope", "LoginGuard") + _read("Area", "Unit"),
    "OrgDept": _read(*BUSINESS, *REFERENCE)
    + _write("Unit", "UnitCheckin", "Agreement", "MemberCheckin", "Evaluation") + [PERSONAL_DATA],
    "Auditor": _read(*BUSINESS, *REFERENCE, "AuditLog"),
    # Street and community administrators review what is submitted in their area (four eyes:
    # never their own submission, app/core/approvals.py).
    "StreetAdmin": _write(*BUSINESS) + _review(*REVIEWED) + _read(*REFERENCE),
    "CommunityAdmin": _write(*BUSINESS) + _review(*REVIEWED) + _read(*REFERENCE),
    "UnitLiaison": _read("Unit", "UnitCheckin", "Agreement", "PartyMember", "MemberCheckin", "Project",
                         "ServiceRecord", "Evaluation", "Meeting", "AgendaItem", "Resolution", "Need")
    + _write("Resource", "ProjectClaim", "UnitReport") + _read(*REFERENCE),
    "Public": [],
}
# Every working role may export what it can read (requesting a file changes no record).
for _role in ("Admin", "SecurityAdmin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin", "UnitLiaison"):
    ROLES[_role] = ROLES[_role] + _read("ExportJob")
# The statistics reports and feedback letters (views/report.py) of the roles that supervise areas.
for _role in ("Admin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin"):
    ROLES[_role] = ROLES[_role] + _read("Report")
# Reminders: the rules and their delivery log for the system admin and the organisation department
# (auditors read them); every working role reads its own in-app notifications (views/notification.py).
for _role in ("Admin", "OrgDept"):
    ROLES[_role] = ROLES[_role] + _write("ReminderRule", "ReminderDelivery")
ROLES["Auditor"] = ROLES["Auditor"] + _read("ReminderRule", "ReminderDelivery")
for _role in ("Admin", "SecurityAdmin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin", "UnitLiaison"):
    ROLES[_role] = ROLES[_role] + _read("Notification")
# Sessions (issue 14): every working role lists and ends its own sessions (我的会话: it changes no
# record, so reading is enough); the security administrator alone sees everyone's and forces a
# logout (在线用户, 强退); the auditor alone reads the login log (登录日志), the system admin not.
for _role in ("Admin", "SecurityAdmin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin", "UnitLiaison"):
    ROLES[_role] = ROLES[_role] + _read("MySessions")
ROLES["SecurityAdmin"] = ROLES["SecurityAdmin"] + _read("OnlineSessions") + [("can_force_logout", "OnlineSessions")]
ROLES["Auditor"] = ROLES["Auditor"] + _read("LoginLog")
# Two-factor authentication (issue 14): every working role's menu entry to its own page (the pages
# are self-service, like the password change); the security administrator alone lists the accounts
# that set it up and resets a business account's (views/two_factor_admin.py).
for _role in ("Admin", "SecurityAdmin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin", "UnitLiaison"):
    ROLES[_role] = ROLES[_role] + _read("MyTwoFactor")
ROLES["SecurityAdmin"] = ROLES["SecurityAdmin"] + _read("TwoFactorAccounts") + [("can_reset", "TwoFactorAccounts")]
ROLE_LABELS = {
    "Admin": _l("System administrator"),
    "SecurityAdmin": _l("Security administrator"),
    "OrgDept": _l("Organisation department"),
    "Auditor": _l("Auditor"),
    "StreetAdmin": _l("Street administrator"),
    "CommunityAdmin": _l("Community administrator"),
    "UnitLiaison": _l("Unit liaison"),
    "Public": _l("Public"),
}


def holds(user, permission, view):
    """Whether one of ``user``'s roles holds ``permission`` on ``view``. For work done on a
    user's behalf outside their request (tasks, the CLI), where FAB's has_access cannot ask."""
    return any(pv.permission.name == permission and pv.view_menu.name == view
               for role in getattr(user, "roles", None) or [] for pv in role.permissions)


def _menu_access(menu, permissions):
    """Menu entries (and their categories) of the screens a role can read. ``menu`` is the menu
    as the screens declare it: [(category, label, icon, [(view class, name, label, icon)])]."""
    readable = {view for perm, view in permissions if perm == "can_read"}
    granted = []
    for category, _label, _icon, items in menu:
        # class_permission_name: a model screen's model name, or a plain screen's own (Report).
        names = [name for view, name, _lbl, _ico in items if view.class_permission_name in readable]
        granted += [("menu_access", name) for name in names]
        if names:
            granted.append(("menu_access", category))
    return granted


def sync_roles(appbuilder, menu):
    """Create the shipped roles and give each exactly its permissions (idempotent), with the
    entries of ``menu`` (views/menu.py's MENU, passed in by ``flask gongjian init``) leading to
    the screens it can read."""
    sm = appbuilder.sm
    for name, permissions in ROLES.items():
        role = sm.find_role(name) or sm.add_role(name)
        wanted = list(permissions) + _menu_access(menu, permissions)
        if name != "Public":
            wanted += SELF_SERVICE
        pvs = []
        for perm, view in dict.fromkeys(wanted):
            pv = sm.find_permission_view_menu(perm, view) or sm.add_permission_view_menu(perm, view)
            pvs.append(pv)
        role.permissions = pvs
    appbuilder.session.commit()
