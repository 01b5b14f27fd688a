"""Sending what is due: deliveries are leased (app/reminders/queue.py), grouped into one message
per recipient, rule, level and channel (an admin gets one list, not 300 reminders), sent through
the channels (app/reminders/channels.py) and their outcome recorded.

In-app notifications are written in the same transaction that marks their deliveries sent
(exactly once); e-mail, webhook and SMS mark theirs right after each send, one UPDATE per message.
A killed scan loses nothing: unsent claims stay pending and expired leases are taken again.
"""
import uuid
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select, update

from app.core.calendar import utcnow
from app.extensions import db
from app.reminders import channels as channel_mod
from app.reminders.contexts import load_contexts
from app.reminders.messages import build_message
from app.reminders.moment import Moment
from app.reminders.queue import (
    cancel_stale,
    due_clause,
    group_key,
    lease,
    leased_groups,
    mark_failed,
    mark_sent,
    send_settings,
    shown_items,
    with_retries,
)
from models import Notification, ReminderRule
from models import ReminderDelivery as D


@dataclass
class RuleCount:
    name: str
    claimed: int = 0
    sent: int = 0
    failed: int = 0


@dataclass
class ScanReport:
    """What one scan did, per rule code (the CLI prints it; the task returns ``as_dict``)."""

    rules: dict = field(default_factory=dict)

    def count(self, code, name):
        return self.rules.setdefault(code, RuleCount(name))

    def as_dict(self):
        return {code: {"name": c.name, "claimed": c.claimed, "sent": c.sent, "failed": c.failed}
                for code, c in self.rules.items()}

    @property
    def sent(self):
        return sum(c.sent for c in self.rules.values())


def _rules_by_id():
    return {r.id: r for r in db.session.execute(
        select(ReminderRule.id, ReminderRule.code, ReminderRule.name, ReminderRule.kind, ReminderRule.template))}


def send_due(clock=None, report=None):
    """Send every due delivery (new, retry due, or abandoned by a dead scan). Returns the report."""
    clock = clock or utcnow()
    report = report if report is not None else ScanReport()
    settings = send_settings()
    enabled = channel_mod.enabled_channels(current_app.config)
    cancel_stale()
    rules = _rules_by_id()
    if "inapp" in enabled:
        _send_in_app(clock, settings, report, rules)
    outside = [code for code in enabled if code != "inapp"]
    while outside:
        leased = lease(clock, outside, settings)
        if leased is None:
            break
        token, taken = leased
        _send_leased(token, clock, settings, report, rules)
        if taken < settings["batch"]:
            break
    return report


def _send_in_app(clock, settings, report, rules):
    """In-app reminders in ONE transaction: mark the due ones sent, write their notifications,
    commit. A scan killed before the commit leaves them due; a concurrent scan waits for the
    rows (PostgreSQL re-checks them after the lock, SQLite has one writer) and finds them sent."""
    token = uuid.uuid4().hex
    statement = (update(D).where(due_clause(clock, ["inapp"]))
                 .values(state="sent", sent_at=clock, lease_token=token, lease_until=None, next_attempt_at=None,
                         last_error=None, attempts=D.attempts + 1).execution_options(synchronize_session=False))

    def work():
        if not db.session.execute(statement).rowcount:
            return []
        groups = leased_groups(token)
        shown = shown_items(token)
        contexts = load_contexts(shown, Moment(clock))
        channel = channel_mod.open_channel("inapp", current_app.config)
        for group in groups:
            channel.send(build_message(group, shown.get(group_key(group), []), contexts, rules[group.rule_id],
                                       settings))
        db.session.execute(Notification.__table__.insert(), channel.take_rows())
        return groups

    for group in with_retries(work) or []:
        report.count(rules[group.rule_id].code, rules[group.rule_id].name).sent += group.n


def _send_leased(token, clock, settings, report, rules):
    groups = leased_groups(token)
    shown = shown_items(token)
    contexts = load_contexts(shown, Moment(clock))
    by_channel = {}
    for group in groups:
        by_channel.setdefault(group.channel, []).append(group)
    # In-app first (local and never down), then each outside channel on its own.
    for channel in sorted(by_channel, key=lambda code: code != "inapp"):
        _send_channel(channel, by_channel[channel], shown, contexts, token, clock, settings, report, rules)


def _send_channel(code, groups, shown, contexts, token, clock, settings, report, rules):
    channel = channel_mod.open_channel(code, current_app.config)
    outcomes = []  # (group, message, error or None)
    down = None
    try:
        for group in groups:
            message = build_message(group, shown.get(group_key(group), []), contexts, rules[group.rule_id], settings)
            error = down
            if error is None:
                try:
                    channel.send(message)
                except channel_mod.ChannelUnavailable as exc:
                    down = error = str(exc)  # the rest waits for the retry instead of a timeout each
                except Exception as exc:  # noqa: BLE001 - one bad message never stops the others
                    error = f"{type(exc).__name__}: {exc}"
            outcomes.append((group, message, error))
            if code != "inapp":
                _record(outcomes, token, clock, settings, report, rules)  # an outside send is recorded at once
                outcomes = []
    finally:
        channel.close()
    if code == "inapp":
        _record(outcomes, token, clock, settings, report, rules, notifications=channel.take_rows())


def _record(outcomes, token, clock, settings, report, rules, notifications=None):
    """Write the outcome of sent messages (and the in-app rows) in one transaction."""

    def work():
        if notifications:
            db.session.execute(Notification.__table__.insert(), notifications)
        for group, message, error in outcomes:
            if error is None:
                mark_sent(token, group, message, clock)
            else:
                mark_failed(token, group, error, clock, settings)

    with_retries(work)
    for group, _message, error in outcomes:
        count = report.count(rules[group.rule_id].code, rules[group.rule_id].name)
        if error is None:
            count.sent += group.n
        else:
            count.failed += group.n
