"""The menus (grouped the way a community office thinks) and the registration of every screen and
REST resource with FAB. Each domain's screens and API live in one module named after the domain;
views/__init__.py imports nothing, so importing one view module never loads them all."""
from flask_babel import lazy_gettext as _l

from views.area import AreaApi, AreaView, ChildAreaView
from views.audit import AuditLogApi, AuditLogView
from views.checkin import (
    AgreementApi,
    AgreementView,
    MemberCheckinApi,
    MemberCheckinView,
    UnitCheckinApi,
    UnitCheckinView,
)
from views.evaluation import EvaluationApi, EvaluationView, GradeOptionApi, GradeOptionView
from views.export_job import ExportJobApi, ExportJobView
from views.lists import (
    NeedApi,
    NeedView,
    ProjectApi,
    ProjectClaimApi,
    ProjectClaimView,
    ProjectView,
    ResourceApi,
    ResourceView,
)
from views.login_log import LoginLogView
from views.meeting import (
    AgendaItemApi,
    AgendaItemView,
    CommunityMeetingView,
    MeetingApi,
    MeetingTypeApi,
    MeetingTypeView,
    MeetingView,
    ResolutionApi,
    ResolutionView,
)
from views.member import CommunityMemberView, PartyMemberApi, PartyMemberView
from views.notification import NotificationApi, NotificationView, install_bell
from views.reference import (
    PostCategoryApi,
    PostCategoryView,
    ServiceQuotaApi,
    ServiceQuotaView,
    SettingApi,
    SettingView,
)
from views.reminder import ReminderDeliveryApi, ReminderDeliveryView, ReminderRuleApi, ReminderRuleView
from views.report import ReportApi, ReportView
from views.service import ServiceRecordApi, ServiceRecordView
from views.sessions import MySessionsView, OnlineSessionsView
from views.two_factor import TwoFactorView
from views.two_factor_admin import TwoFactorAccountsView
from views.unit import UnitApi, UnitView
from views.unit_report import UnitReportApi, UnitReportView
from views.user_scope import LockedAccountView, UserScopeApi, UserScopeView

# (category, category label, icon, [(view, name, label, icon)])
MENU = [
    ("Grid", _l("Grid governance"), "fa-sitemap", [
        (AreaView, "Areas", _l("Areas and grids"), "fa-map"),
    ]),
    ("DoubleReporting", _l("Double reporting"), "fa-handshake", [
        (UnitView, "Units", _l("Resident units"), "fa-building"),
        (UnitCheckinView, "UnitCheckins", _l("Unit check-ins"), "fa-clipboard-check"),
        (AgreementView, "Agreements", _l("Co-building agreements"), "fa-file-signature"),
        (UnitReportView, "UnitReports", _l("Quarterly reports"), "fa-file-lines"),
        (PartyMemberView, "PartyMembers", _l("In-service Party members"), "fa-user"),
        (MemberCheckinView, "MemberCheckins", _l("Member check-ins"), "fa-id-card"),
    ]),
    ("ThreeLists", _l("Three lists"), "fa-list", [
        (NeedView, "Needs", _l("Needs list"), "fa-hand-holding-heart"),
        (ResourceView, "Resources", _l("Resources list"), "fa-toolbox"),
        (ProjectView, "Projects", _l("Projects list"), "fa-diagram-project"),
        (ProjectClaimView, "ProjectClaims", _l("Project claims"), "fa-flag"),
    ]),
    ("Service", _l("Service and feedback"), "fa-heart", [
        (ServiceRecordView, "ServiceRecords", _l("Service records"), "fa-clock"),
        (EvaluationView, "Evaluations", _l("Evaluations"), "fa-star"),
    ]),
    ("Meetings", _l("Joint meetings"), "fa-people-group", [
        (MeetingView, "MeetingsList", _l("Meetings"), "fa-calendar"),
        (AgendaItemView, "AgendaItems", _l("Agenda items"), "fa-list-ol"),
        (ResolutionView, "Resolutions", _l("Resolutions"), "fa-list-check"),
    ]),
    ("Reports", _l("Statistics"), "fa-chart-column", [
        (ReportView, "StatisticsReports", _l("Statistics reports"), "fa-chart-column"),
    ]),
    ("Personal", _l("My work"), "fa-user-clock", [
        (ExportJobView, "MyExports", _l("My exports"), "fa-file-export"),
    ]),
    ("Settings", _l("Settings"), "fa-gear", [
        (MeetingTypeView, "MeetingTypes", _l("Meeting types"), "fa-tags"),
        (GradeOptionView, "GradeOptions", _l("Grade scale"), "fa-ranking-star"),
        (PostCategoryView, "PostCategories", _l("Service posts"), "fa-briefcase"),
        (ServiceQuotaView, "ServiceQuotas", _l("Service quotas"), "fa-bullseye"),
        (SettingView, "SettingsList", _l("Parameters"), "fa-sliders"),
    ]),
    ("Audit", _l("Audit"), "fa-shield-halved", [
        (AuditLogView, "AuditLog", _l("Audit log"), "fa-scroll"),
    ]),
    ("Security", _l("Security"), "fa-cogs", [
        (UserScopeView, "UserScopes", _l("Account scopes"), "fa-location-dot"),
        (LockedAccountView, "LockedAccounts", _l("Locked accounts"), "fa-lock"),
    ]),
]

# Reminders (催办提醒): the rule and delivery-log screens, and each user's own notifications.
MENU += [
    ("Reminders", _l("Reminders"), "fa-bell", [
        (ReminderRuleView, "ReminderRules", _l("Reminder rules"), "fa-bell"),
        (ReminderDeliveryView, "ReminderDeliveries", _l("Delivery log"), "fa-paper-plane"),
    ]),
    ("Personal", _l("My work"), "fa-user-clock", [
        (NotificationView, "MyNotifications", _l("My notifications"), "fa-envelope"),
    ]),
]

# Sessions and the login log (issue 14; views/sessions.py, views/login_log.py).
MENU += [
    ("Personal", _l("My work"), "fa-user-clock", [
        (MySessionsView, "MySessions", _l("My sessions"), "fa-laptop"),
    ]),
    ("Security", _l("Security"), "fa-cogs", [
        (OnlineSessionsView, "OnlineUsers", _l("Online users"), "fa-users"),
    ]),
    ("Audit", _l("Audit"), "fa-shield-halved", [
        (LoginLogView, "LoginLog", _l("Login log"), "fa-right-to-bracket"),
    ]),
]

# Two-factor authentication (issue 14; views/two_factor.py, views/two_factor_admin.py).
MENU += [
    ("Personal", _l("My work"), "fa-user-clock", [
        (TwoFactorView, "MyTwoFactor", _l("Two-factor authentication"), "fa-mobile-screen"),
    ]),
    ("Security", _l("Security"), "fa-cogs", [
        (TwoFactorAccountsView, "TwoFactorAccounts", _l("Two-factor accounts"), "fa-mobile-screen"),
    ]),
]

# Screens shown only as tabs of another record's page.
RELATED_ONLY = [ChildAreaView, CommunityMemberView, CommunityMeetingView]

APIS = [
    AreaApi, UnitApi, UnitCheckinApi, AgreementApi, PartyMemberApi, MemberCheckinApi, NeedApi, ResourceApi,
    ProjectApi, ProjectClaimApi, ServiceRecordApi, EvaluationApi, GradeOptionApi, MeetingApi, AgendaItemApi,
    ResolutionApi, MeetingTypeApi, PostCategoryApi, ServiceQuotaApi, SettingApi, AuditLogApi, UserScopeApi,
    ExportJobApi, ReportApi,
]
APIS += [ReminderRuleApi, ReminderDeliveryApi, NotificationApi]
APIS += [UnitReportApi]


def register_views(appbuilder):
    for category, category_label, category_icon, items in MENU:
        for view, name, label, icon in items:
            appbuilder.add_view(view, name, label=label, icon=icon, category=category,
                                category_label=category_label, category_icon=category_icon)
    for view in RELATED_ONLY:
        appbuilder.add_view_no_menu(view)
    for api in APIS:
        appbuilder.add_api(api)
    install_bell(appbuilder)  # the unread-notification bell of every page
