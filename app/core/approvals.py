"""Four eyes on approvals (四眼原则): a need, resource or project is submitted by one person and
approved or rejected by another — a street or community administrator, inside their scope (the
scope hook sees to that) — never by the person who submitted it.

Held by a session hook, whatever the screen, API or form: a person's new submission records who
submitted it and must be pending (its status, reviewer and review time are not theirs to set); a
decision (a change of status, reviewer or reason) by the submitter, or by someone who does not
review, is refused; the reviewer and the time of the review are recorded by the hook from the
acting person, whatever the request said. The system itself (demo data, migrations, the command
line) writes records in any state.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect

from app.core.duties import DutiesRefused, acting_person
from app.extensions import listen_once
from models.base import utcnow
from models.lists import ApprovalMixin

__all__ = ["DECISION_COLUMNS", "REVIEWER_ROLES", "check_approvals", "install"]

REVIEWER_ROLES = ("StreetAdmin", "CommunityAdmin")
DECISION_COLUMNS = ("status", "reviewed_by", "reviewed_at", "reject_reason")
PENDING = "pending"

SUBMITTED_AS_PENDING = _l("A new submission is pending: a reviewer approves or rejects it")
NOT_YOUR_OWN = _l("You cannot approve or reject what you submitted: another reviewer decides")
NOT_A_REVIEWER = _l("Only a street or community administrator approves or rejects submissions")


def _changed(record, columns):
    state = sa_inspect(record)
    return {name for name in columns if state.attrs[name].history.has_changes()}


def _check_new(record, person):
    record.submitted_by = person.username
    if (record.status or PENDING) != PENDING or record.reviewed_by or record.reviewed_at:
        raise DutiesRefused({"status": [SUBMITTED_AS_PENDING]})
    record.status = PENDING


def _check_decision(record, person):
    if "submitted_by" in _changed(record, ("submitted_by",)):
        raise DutiesRefused({"status": [NOT_YOUR_OWN]})  # who submitted is not rewritten
    if not _changed(record, DECISION_COLUMNS):
        return
    if record.submitted_by is not None and record.submitted_by == person.username:
        raise DutiesRefused({"status": [NOT_YOUR_OWN]})
    if not any(role.name in REVIEWER_ROLES for role in person.roles):
        raise DutiesRefused({"status": [NOT_A_REVIEWER]})
    decided = record.status != PENDING
    record.reviewed_by = person.username if decided else None
    record.reviewed_at = utcnow() if decided else None


def check_approvals(session, flush_context, instances):
    """Session hook: submissions and decisions as the four-eyes rule allows."""
    person = acting_person()  # None: the system or the command line, which write any state
    if person is None:
        return
    for record in list(session.new):
        if isinstance(record, ApprovalMixin):
            _check_new(record, person)
    for record in list(session.dirty):
        if isinstance(record, ApprovalMixin) and session.is_modified(record):
            _check_decision(record, person)


def install():
    """Register the session hook."""
    listen_once("before_flush", check_approvals)
