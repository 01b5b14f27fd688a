"""The reminder scan (催办): find what is due, claim each reminder once, send it through channels.

One scan at a moment ``now`` (naive UTC; dates are judged in Asia/Shanghai):

1. **Claim.** For each enabled rule, ONE ``INSERT … SELECT … ON CONFLICT DO NOTHING`` writes a
   pending ``ReminderDelivery`` per (rule, target, occasion, level, recipient, channel)
   (app/reminders/claim.py). The SELECT finds the targets of the rule's kind (targets.py,
   set-based: the same number of statements for 10 or 10,000 resolutions) and resolves
   recipients (recipients.py) the way app.core.scope does: an admin is only told about records
   inside their area. The database's unique key makes a repeated or concurrent scan claim nothing
   twice — there is no check-then-insert.
2. **Send.** Due deliveries are leased, grouped into one message per recipient, rule, level and
   channel, rendered from the rule's Chinese template and sent (sending.py, queue.py,
   messages.py, contexts.py); failures are retried with backoff.

What is due is judged by the business definitions (app/statistics/definitions.py): overdue and
closed resolutions and their warning level, members and units checked in for the quarter, the
quarter's service quota, the quarter itself. The texts quote the same figures.

A killed scan loses nothing: unsent claims stay pending and expired leases are taken again.
"""
from flask import current_app
from sqlalchemy import select

from app.core.calendar import utcnow
from app.extensions import db
from app.reminders import channels as channel_mod
from app.reminders.claim import claim
from app.reminders.moment import Moment
from app.reminders.sending import ScanReport, send_due
from models import ReminderRule


def run_scan(now=None, clock=None, send=True):
    """Claim every enabled rule's reminders due at ``now`` (naive UTC; default: now), then send
    what is due by the wall ``clock``. Returns a ScanReport (claimed, sent, failed per rule)."""
    now = now or utcnow()
    moment = Moment(now)
    report = ScanReport()
    enabled = channel_mod.enabled_channels(current_app.config)
    rules = db.session.execute(select(ReminderRule).where(ReminderRule.enabled.is_(True))
                               .order_by(ReminderRule.id)).scalars().all()
    plain = [(rule.id, rule.code, rule.name) for rule in rules]
    for rule, (_id, code, name) in zip(rules, plain):
        report.count(code, name).claimed += claim(rule, moment, enabled)
    if send:
        send_due(clock or utcnow(), report)
    return report
