"""All Gongjian models, one module per domain. Importing this package registers every table on
FAB's ``Model.metadata`` (which Alembic migrates)."""
from .base import BusinessModel, Choices, utcnow  # noqa: F401
from .area import Area, AREA_LEVELS, CHILD_LEVEL  # noqa: F401
from .reference import PostCategory, ServiceQuota, Setting, DEFAULT_SETTINGS, QUOTA_PERIODS  # noqa: F401
from .unit import Unit, UNIT_TYPES, PARTY_ORG_TYPES  # noqa: F401
from .member import PartyMember, GENDERS  # noqa: F401
from .checkin import UnitCheckin, Agreement, MemberCheckin, UNIT_CHECKIN_STATUS, MEMBER_CHECKIN_STATUS  # noqa: F401
from .unit_report import UnitReport  # noqa: F401
from .lists import Need, Resource, Project, ProjectClaim, APPROVAL_STATUS, LIST_CATEGORIES  # noqa: F401
from .service import ServiceRecord  # noqa: F401
from .evaluation import GradeOption, Evaluation, LETTER_STATES  # noqa: F401
from .meeting import MeetingType, Meeting, AgendaItem, Resolution, MEETING_STATUS, RESOLUTION_STATUS  # noqa: F401
from .user_scope import UserScope  # noqa: F401
from .audit import AuditLog, AuditSeal  # noqa: F401
from . import unit_scope  # noqa: F401,E402  (declares the liaison scope of each model)
from .login_guard import LoginGuard  # noqa: F401,E402
from .export_job import ExportJob, EXPORT_STATES, EXPORT_FORMATS, EXPORT_KINDS  # noqa: F401,E402
from .reminder import (ReminderRule, ReminderDelivery, Notification, REMINDER_KINDS, RECIPIENT_CODES,  # noqa: F401,E402
                       CHANNELS, DELIVERY_STATES, WARNING_LEVELS)
