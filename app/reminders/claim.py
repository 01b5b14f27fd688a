"""Claiming reminders: for one rule, ONE ``INSERT … SELECT … ON CONFLICT DO NOTHING`` writes a
pending ``ReminderDelivery`` per (rule, target, occasion, level, recipient, channel).

The SELECT joins the rule's targets (app/reminders/targets.py) to their recipients
(app/reminders/recipients.py) and to the channels that can address them. The database's unique
key makes a repeated or concurrent scan claim nothing twice — there is no check-then-insert.
"""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import literal, select, text, true, union_all
from sqlalchemy.dialects import postgresql, sqlite

from app.core.calendar import utcnow
from app.extensions import db
from app.reminders.queue import with_retries
from app.reminders.recipients import recipients
from app.reminders.rules import KIND_TARGETS
from app.reminders.targets import TARGETS
from models import PartyMember, ReminderDelivery

CLAIM_COLUMNS = ["rule_id", "target_type", "target_id", "occasion", "level", "recipient_type", "recipient_id",
                 "channel", "target_area_id", "state", "attempts", "created_at"]


def _insert(table):
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _channel_rows(t, r, channel):
    """The claims of one channel: who it can address among the recipients ``r``."""
    cols = [r.c.target_id, r.c.area_id, r.c.occasion, r.c.level, r.c.recipient_type, r.c.recipient_id]
    if channel == "inapp":
        return select(*cols, literal("inapp").label("channel")).where(r.c.recipient_type == "user")
    if channel == "email":
        return (select(*cols, literal("email").label("channel")).select_from(r)
                .join(User, User.id == r.c.recipient_id)
                .where(r.c.recipient_type == "user", User.email.isnot(None), User.email != ""))
    if channel == "sms":
        return (select(*cols, literal("sms").label("channel")).select_from(r)
                .join(PartyMember, PartyMember.id == r.c.recipient_id)
                .where(r.c.recipient_type == "member", PartyMember.phone.isnot(None), PartyMember.phone != ""))
    if channel == "webhook":  # one message per item to the group robot, whoever else is told
        return select(t.c.target_id, t.c.area_id, t.c.occasion, t.c.level, literal("group"), literal(0),
                      literal("webhook").label("channel")).distinct()
    return None


def _claim_rows(rule, t, r, enabled_channels):
    """The UNION of the rule's channels' claims, or None when no channel has anyone to tell."""
    branches = []
    for channel in rule.channel_codes():
        if channel not in enabled_channels or (r is None and channel != "webhook"):
            continue
        rows = _channel_rows(t, r, channel)
        if rows is not None:
            branches.append(rows)
    if not branches:
        return None
    return (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("claims")


def claim(rule, moment, enabled_channels):
    """Claim the rule's due reminders; returns how many new deliveries were written."""
    targets = TARGETS[rule.kind](rule, moment)
    if targets is None:
        return 0
    t = targets.cte("t")
    found = recipients(rule, t, moment)
    rows = _claim_rows(rule, t, found.cte("r") if found is not None else None, enabled_channels)
    if rows is None:
        return 0
    source = (select(literal(rule.id), literal(KIND_TARGETS[rule.kind]), rows.c.target_id, rows.c.occasion,
                     rows.c.level, rows.c.recipient_type, rows.c.recipient_id, rows.c.channel, rows.c.area_id,
                     literal("pending"), literal(0), literal(utcnow()))
              .where(true()))  # SQLite needs a WHERE before ON CONFLICT (else it reads ON as a join's)
    if db.engine.dialect.name == "postgresql":
        # Concurrent claimers then lock the same keys in the same order: no deadlock.
        source = source.order_by(rows.c.target_id, rows.c.level, rows.c.recipient_id, rows.c.channel)
    statement = _insert(ReminderDelivery.__table__).from_select(CLAIM_COLUMNS, source).on_conflict_do_nothing()
    statement = statement.execution_options(preserve_rowcount=True)
    return with_retries(lambda: _inserted(db.session.execute(statement)))


def _inserted(result):
    """Rows an INSERT wrote. Python's sqlite3 reports -1 for a statement that starts with WITH
    (the CTEs come first), so SQLite is asked directly."""
    if (result.rowcount is not None and result.rowcount >= 0) or db.engine.dialect.name != "sqlite":
        return max(0, result.rowcount or 0)
    return db.session.execute(text("SELECT changes()")).scalar_one()
