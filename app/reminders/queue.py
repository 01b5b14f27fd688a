"""The delivery log as a work queue: due deliveries (pending, a retry that is due, or a lease whose
scan died) are leased with one UPDATE that tags them with a token, read back grouped per
recipient, rule, level and channel, and marked sent or failed one UPDATE per message. A failure
is retried with exponential backoff (app/reminders/channels.py) up to a limit; deliveries of
records deleted or signed off meanwhile are cancelled. Every write commits through
``with_retries``: a deadlock between concurrent scans is tried again.
"""
import uuid
from datetime import timedelta

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.reminders import channels as channel_mod
from app.statistics import definitions as defs
from models import Agreement, Meeting, PartyMember, ReminderRule, Resolution, UnitCheckin
from models import ReminderDelivery as D

GROUP_KEY = ("channel", "recipient_type", "recipient_id", "rule_id", "level")
GROUP_LINES = 20  # lines listed in one grouped message; the rest are counted and linked
# A delivery not sent yet is cancelled when its target is gone or no longer needs chasing.
STILL_NEEDED = {
    "resolution": (Resolution, defs.open_sql),
    "meeting": (Meeting, None),
    "party_member": (PartyMember, None),
    "agreement": (Agreement, None),
    "unit_checkin": (UnitCheckin, None),
}


def with_retries(work, tries=3):
    """Run a write and commit; a deadlock or a lock timeout between concurrent scans is retried."""
    for attempt in range(tries):
        try:
            result = work()
            db.session.commit()
            return result
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == tries - 1 or not _is_transient(exc):
                raise
    return None


def _is_transient(exc):
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "deadlock" in text or "locked" in text or "could not serialize" in text


def send_settings():
    """The REMINDER_* settings of the send pass (lease, batch, retries, backoff, base URL)."""
    config = current_app.config
    return {
        "lease": timedelta(seconds=int(config.get("REMINDER_LEASE_SECONDS", 600))),
        "batch": int(config.get("REMINDER_SEND_BATCH", 1000000)),
        "max_attempts": int(config.get("REMINDER_MAX_ATTEMPTS", 6)),
        "backoff": int(config.get("REMINDER_BACKOFF_SECONDS", 60)),
        "backoff_cap": int(config.get("REMINDER_BACKOFF_MAX_SECONDS", 6 * 3600)),
        "base_url": (config.get("REMINDER_BASE_URL") or "").rstrip("/"),
    }


def due_clause(clock, enabled):
    """SQL: the delivery is due at ``clock`` on one of the ``enabled`` channels."""
    return and_(
        D.channel.in_(enabled),
        D.rule_id.in_(select(ReminderRule.id).where(ReminderRule.enabled.is_(True))),
        or_(D.state == "pending", and_(D.state == "failed", D.next_attempt_at <= clock),
            and_(D.state == "sending", D.lease_until < clock)))


def lease(clock, enabled, settings):
    """Take up to a batch of due deliveries for this scan; returns (token, how many) or None.

    The conditions are repeated outside the id subquery so that, on PostgreSQL, a row another scan
    leased meanwhile is re-checked after its lock is released, and skipped."""
    token = uuid.uuid4().hex
    due = due_clause(clock, enabled)
    ids = select(D.id).where(due).order_by(D.id).limit(settings["batch"])
    statement = (update(D).where(D.id.in_(ids), due)
                 .values(state="sending", lease_token=token, lease_until=clock + settings["lease"],
                         next_attempt_at=None, attempts=D.attempts + 1).execution_options(synchronize_session=False))
    taken = with_retries(lambda: db.session.execute(statement).rowcount)
    return (token, taken) if taken else None


def cancel_stale():
    """One UPDATE per target type: waiting deliveries of deleted or signed-off targets."""
    for target_type, (model, condition) in STILL_NEEDED.items():
        alive = select(model.id).where(model.id == D.target_id)
        if condition is not None:
            alive = alive.where(condition(model))
        statement = (update(D).where(D.state.in_(("pending", "failed")), D.target_type == target_type,
                                     ~alive.exists())
                     .values(state="cancelled", last_error="the record no longer needs this reminder",
                             next_attempt_at=None).execution_options(synchronize_session=False))
        with_retries(lambda: db.session.execute(statement))


def leased_groups(token):
    """One row per (channel, recipient, rule, level) of the lease, with its size and address."""
    user_name = (User.last_name + User.first_name).label("user_name")
    columns = [getattr(D, key) for key in GROUP_KEY]
    return db.session.execute(
        select(*columns, func.count().label("n"), User.email, user_name, PartyMember.phone,
               PartyMember.name.label("member_name"))
        .outerjoin(User, and_(D.recipient_type == "user", User.id == D.recipient_id))
        .outerjoin(PartyMember, and_(D.recipient_type == "member", PartyMember.id == D.recipient_id))
        .where(D.lease_token == token)
        .group_by(*columns, User.email, User.last_name, User.first_name, PartyMember.phone, PartyMember.name)
        .order_by(*columns)).all()


def group_key(group):
    """The (channel, recipient_type, recipient_id, rule_id, level) of a leased group row."""
    return tuple(getattr(group, name) for name in GROUP_KEY)


def shown_items(token):
    """{group key: [(target_type, target_id)]}: the first GROUP_LINES items of each group (a
    window function: the rest of a big group is only counted, never loaded)."""
    columns = [getattr(D, key) for key in GROUP_KEY]
    number = func.row_number().over(partition_by=columns, order_by=(D.target_type, D.target_id)).label("rn")
    ranked = select(*columns, D.target_type, D.target_id, number).where(D.lease_token == token).subquery()
    shown = {}
    for row in db.session.execute(select(ranked).where(ranked.c.rn <= GROUP_LINES).order_by(ranked.c.rn)):
        shown.setdefault(group_key(row), []).append((row.target_type, row.target_id))
    return shown


def _in_group(token, group):
    return and_(D.lease_token == token, *(getattr(D, name) == getattr(group, name) for name in GROUP_KEY))


def mark_sent(token, group, message, clock):
    """One UPDATE per message. A one-item message keeps its text; a list keeps its title (the
    list itself is in the notification or the e-mail, not copied onto every row)."""
    # The lease token stays: it says which scan sent it, and leaving it spares an index update
    # per row (next_attempt_at is already empty: a row due for retry was reset when it was leased).
    db.session.execute(update(D).where(_in_group(token, group)).values(
        state="sent", sent_at=clock, subject=message.title[:200], body=message.body if group.n == 1 else None,
        last_error=None).execution_options(synchronize_session=False))


def mark_failed(token, group, error, clock, settings):
    """Failed again: retry after the backoff of its attempt count, or give up at the limit."""
    limit = settings["max_attempts"]
    retry_at = case(*[(D.attempts == n, clock + timedelta(seconds=channel_mod.backoff_seconds(
        n, settings["backoff"], settings["backoff_cap"]))) for n in range(1, limit)], else_=None)
    db.session.execute(update(D).where(_in_group(token, group)).values(
        state=case((D.attempts >= limit, "dead"), else_="failed"), next_attempt_at=retry_at,
        last_error=str(error)[:2000], lease_token=None, lease_until=None
    ).execution_options(synchronize_session=False))
