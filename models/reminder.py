"""Reminders and escalation (催办与预警): the rules an admin edits, the in-app notifications users
read, and the delivery log that makes every reminder go out exactly once.

* ``ReminderRule`` — what a rule watches (its ``kind``), how many days before or after, who
  receives it, through which channels, its Chinese message template, on/off. Audited: a rule edit
  changes who is chased, so it is a business change.
* ``ReminderDelivery`` — one reminder for one (rule, target, occasion, level, recipient, channel);
  that key is UNIQUE in the database, so claims are ``INSERT … ON CONFLICT DO NOTHING`` and two
  scans can never send the same reminder twice. Not audited: high-volume system bookkeeping.
* ``Notification`` — an in-app message for one account (the bell). Not audited, per user, not
  area-scoped: a user sees only their own (views/notification.py filters on the user).

The business logic lives in app/reminders/ (rules, targets, recipients, claims, sending,
channels); the log's screen in views/reminder.py. What is audited and who sees which rows are
tables in app/core/audit.py and app/core/scope.py.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from .base import BusinessModel, Choices, utcnow

# What a rule watches. The numbers (offset_days, escalate_after_days) mean what the help says.
REMINDER_KINDS = Choices(
    ("resolution_due", _l("Resolution due soon (blue)")),
    ("resolution_overdue", _l("Resolution overdue (yellow, then red)")),
    ("meeting_topics", _l("Meeting: topic collection opens")),
    ("meeting_eve", _l("Meeting: the day before")),
    ("minutes_missing", _l("Meeting: minutes not filed")),
    ("member_not_checked_in", _l("Member not checked in (before the quarter ends)")),
    ("member_reregister", _l("Member due to re-register")),
    ("member_quota", _l("Member under the quarter's service quota")),
    ("agreement_expiring", _l("Co-building agreement expiring")),
    ("unit_report_missing", _l("Unit's quarterly co-building report missing")),
    ("monthly_digest", _l("Monthly digest per admin")),
)
# Who receives it (app/reminders/recipients.py resolves each code to accounts or members, within scope).
RECIPIENT_CODES = Choices(
    ("lead_owner", _l("Lead owner")),
    ("co_owners", _l("Co-owners")),
    ("attending_units", _l("Attending units")),
    ("attendees", _l("Attendees")),
    ("area_members", _l("Party members of the area")),
    ("note_taker", _l("Note-taker")),
    ("member", _l("The member")),
    ("unit_liaison", _l("Unit liaison")),
    ("community_admin", _l("Community administrator")),
    ("street_admin", _l("Street administrator")),
    ("orgdept", _l("Organisation department")),
)
CHANNELS = Choices(
    ("inapp", _l("In-app notification")),
    ("email", _l("E-mail")),
    ("webhook", _l("Group robot (webhook)")),
    ("sms", _l("SMS")),
)
# The labels of the warning colours of resolutions (levels and thresholds: app/statistics/definitions.py).
WARNING_LEVELS = Choices(
    ("blue", _l("Blue: due soon")),
    ("yellow", _l("Yellow: overdue")),
    ("red", _l("Red: overdue, escalated")),
)
DELIVERY_STATES = Choices(
    ("pending", _l("Waiting")),
    ("sending", _l("Sending")),
    ("sent", _l("Sent")),
    ("failed", _l("Failed, will retry")),
    ("dead", _l("Failed, gave up")),
    ("cancelled", _l("No longer needed")),
)


class ReminderRule(BusinessModel):
    """One reminder rule; the shipped ones are created by app.reference_data (codes never change)."""

    __tablename__ = "reminder_rule"

    code = Column(String(50), nullable=False, unique=True)
    name = Column(String(100), nullable=False)
    kind = Column(String(40), nullable=False, index=True)
    offset_days = Column(Integer, nullable=False, default=0)
    escalate_after_days = Column(Integer)
    recipients = Column(String(200), nullable=False)  # comma-separated RECIPIENT_CODES
    escalation_recipients = Column(String(200))  # who gets the red level
    channels = Column(String(100), nullable=False, default="inapp")  # comma-separated CHANNELS
    template = Column(Text, nullable=False)
    enabled = Column(Boolean, nullable=False, default=True)
    description = Column(Text)

    def recipient_codes(self, level=0):
        spec = self.escalation_recipients if level >= 2 and self.escalation_recipients else self.recipients
        return split_codes(spec)

    def channel_codes(self):
        return split_codes(self.channels)


def split_codes(spec):
    """'a, b,,c' -> ['a', 'b', 'c'] (order kept, duplicates dropped)."""
    return list(dict.fromkeys(part.strip() for part in (spec or "").replace("，", ",").split(",") if part.strip()))


class ReminderDelivery(Model):
    """The delivery log: one row per reminder per recipient per channel, claimed once."""

    __tablename__ = "reminder_delivery"
    __table_args__ = (
        UniqueConstraint("rule_id", "target_type", "target_id", "occasion", "level", "recipient_type",
                         "recipient_id", "channel", name="uq_reminder_delivery_key"),
        # The send pass looks for due work: pending, retry due, or a lease that ran out.
        Index("ix_reminder_delivery_state_due", "state", "next_attempt_at"),
        # …and marks each message's deliveries of its lease (one UPDATE per message).
        Index("ix_reminder_delivery_lease", "lease_token", "recipient_id", "rule_id", "level"),
    )

    id = Column(Integer, primary_key=True)
    rule_id = Column(Integer, ForeignKey("reminder_rule.id"), nullable=False)
    rule = relationship("ReminderRule")
    target_type = Column(String(30), nullable=False)  # a table name (resolution, meeting, ab_user…)
    target_id = Column(Integer, nullable=False)
    occasion = Column(String(20), nullable=False)  # a deadline, a quarter, a month…
    level = Column(SmallInteger, nullable=False, default=0)
    recipient_type = Column(String(10), nullable=False)  # user, member or group
    recipient_id = Column(Integer, nullable=False)
    channel = Column(String(20), nullable=False)
    # The area of the target: the log is scoped like the records it speaks about.
    target_area_id = Column(Integer, ForeignKey("area.id"), index=True)
    target_area = relationship("Area")
    state = Column(String(10), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    next_attempt_at = Column(DateTime)
    lease_token = Column(String(32))
    lease_until = Column(DateTime)
    subject = Column(String(200))
    body = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)

    def __repr__(self):
        return f"{self.rule} {self.target_type}#{self.target_id} → {self.recipient_type}#{self.recipient_id}"


class Notification(Model):
    """An in-app message for one account; ``read_at`` is set when they read it."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    user = relationship(User)
    rule_id = Column(Integer, ForeignKey("reminder_rule.id", ondelete="SET NULL"), index=True)
    rule = relationship("ReminderRule")
    level = Column(SmallInteger, nullable=False, default=0)
    title = Column(String(200), nullable=False)
    body = Column(Text)
    link = Column(String(300))
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    read_at = Column(DateTime)

    def __repr__(self):
        return self.title

    @property
    def is_read(self):
        return self.read_at is not None
