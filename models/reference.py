"""Reference data an admin edits: service post categories, service quotas and settings.

Quotas, thresholds and scales differ by district, so they live here as data, never in code.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, Float, Integer, String, Text

from .base import BusinessModel, Choices

QUOTA_PERIODS = Choices(("quarter", _l("Quarter")), ("year", _l("Year")))


class PostCategory(BusinessModel):
    """A service post an in-service member may claim (楼道长, 政策宣传员, 调解员, 巡逻员…)."""

    __tablename__ = "post_category"

    name = Column(String(50), nullable=False, unique=True)
    description = Column(Text)
    active = Column(Boolean, nullable=False, default=True)


class ServiceQuota(BusinessModel):
    """What a checked-in member must do in a period, e.g. ≥ 4 activities and ≥ 50 hours a year."""

    __tablename__ = "service_quota"

    name = Column(String(50), nullable=False, unique=True)
    period = Column(String(10), nullable=False, default="quarter")
    min_activities = Column(Integer, nullable=False, default=0)
    min_hours = Column(Float, nullable=False, default=0)
    min_points = Column(Float, nullable=False, default=0)
    active = Column(Boolean, nullable=False, default=True)


class Setting(BusinessModel):
    """A named setting with a value an admin edits (e.g. the check-in rate threshold)."""

    __tablename__ = "setting"

    key = Column(String(64), nullable=False, unique=True)
    value = Column(String(200), nullable=False)
    description = Column(Text)

    def __repr__(self):
        return self.key


# Settings the product reads, with their defaults (written by `gongjian init`).
DEFAULT_SETTINGS = {
    "points_per_hour": ("1", _l("Points earned per service hour")),
    "checkin_rate_threshold": ("95", _l("Check-in rate (%) under which a unit is flagged")),
    "reregister_months": ("6", _l("Months after which an in-service member must re-register")),
    # The password policy and the login captcha (app/core/passwords.py, app/core/captcha.py).
    "password_min_length": ("10", _l("Minimum length of a password")),
    "password_char_classes": ("3", _l("How many kinds of characters a password needs, out of lower-case "
                                      "letters, upper-case letters, digits and symbols")),
    "password_history": ("5", _l("A new password may not be any of the account's last N passwords")),
    "password_expiry_days": ("90", _l("Days after which a password must be changed (0: never)")),
    "captcha_after_failures": ("3", _l("Failed logins (from one address or for one user name, within the "
                                       "lockout window) after which the login asks for a captcha")),
    # Two-factor authentication (app/core/two_factor.py): the roles whose accounts must enrol.
    "two_factor_roles": ("Admin,SecurityAdmin,Auditor,OrgDept",
                         _l("Roles whose accounts must use two-factor authentication (comma-separated role "
                            "names, e.g. Admin,SecurityAdmin,Auditor,OrgDept; empty: none)")),
}
