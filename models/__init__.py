"""All Gongjian models, one module per domain. Importing this package registers every table on
FAB's ``Model.metadata`` (which Alembic migrates)."""
from .account_epoch import AccountEpoch  # noqa: F401
from .area import AREA_LEVELS, CHILD_LEVEL, Area  # noqa: F401
from .audit import AuditLog, AuditSeal  # noqa: F401
from .base import BusinessModel, Choices, utcnow  # noqa: F401
from .checkin import MEMBER_CHECKIN_STATUS, UNIT_CHECKIN_STATUS, Agreement, MemberCheckin, UnitCheckin  # noqa: F401
from .evaluation import LETTER_STATES, Evaluation, GradeOption  # noqa: F401
from .export_job import EXPORT_FORMATS, EXPORT_KINDS, EXPORT_STATES, ExportJob  # noqa: F401,E402
from .lists import APPROVAL_STATUS, LIST_CATEGORIES, Need, Project, ProjectClaim, Resource  # noqa: F401
from .login_guard import LoginGuard  # noqa: F401,E402
from .meeting import MEETING_STATUS, RESOLUTION_STATUS, AgendaItem, Meeting, MeetingType, Resolution  # noqa: F401
from .member import GENDERS, PartyMember  # noqa: F401
from .password_record import AccountPassword, CaptchaChallenge, PasswordHistory  # noqa: F401
from .reference import DEFAULT_SETTINGS, QUOTA_PERIODS, PostCategory, ServiceQuota, Setting  # noqa: F401
from .reminder import (  # noqa: F401,E402
                       CHANNELS,
                       DELIVERY_STATES,
                       RECIPIENT_CODES,
                       REMINDER_KINDS,
                       WARNING_LEVELS,
                       Notification,
                       ReminderDelivery,
                       ReminderRule,
)
from .service import ServiceRecord  # noqa: F401
from .two_factor import RecoveryCode, TwoFactor  # noqa: F401
from .unit import PARTY_ORG_TYPES, UNIT_TYPES, Unit  # noqa: F401
from .unit_report import UnitReport  # noqa: F401
from .user_scope import UserScope  # noqa: F401
from .user_session import END_REASONS, UserSession  # noqa: F401
