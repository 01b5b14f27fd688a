"""Four eyes on approvals (四眼原则), the backstop: a need, resource, project or project claim is
submitted by one person and approved or rejected by another who holds the review permission
(``can_review``, app/core/roles.py) — a street or community administrator, inside their scope
(the scope hook sees to that) — never by the person who submitted it.

The decision itself is app/approvals/ (``decide``): the one state machine, which the screens'
buttons, the API's approve/reject endpoints and any later caller use. This module holds, by a
session hook, whatever the screen, API or form, that nothing else writes a decision:

* a person's new submission records who submitted it and is pending (its status, reviewer and
  review time are not theirs to set);
* a change of the decision columns is refused unless ``decide`` marked it (``mark_decision``),
  and always when made by the submitter or by someone who does not review;
* the submitter changing a rejected record's content resubmits it: pending again, the review
  cleared.

The system itself (demo data, migrations, the command line) writes records in any state.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect

from app.core.audit import name_next_update
from app.core.duties import DutiesRefused, acting_person
from app.core.roles import REVIEW, holds
from app.extensions import listen_once
from models.lists import ApprovalMixin

__all__ = ["APPROVED", "DECISION_COLUMNS", "PENDING", "REJECTED", "check_approvals", "clear_decision", "install",
           "is_reviewer", "mark_decision", "reviewer_refusal"]

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DECISION_COLUMNS = ("status", "reviewed_by", "reviewed_at", "reject_reason", "review_note")
_DECISION_KEY = "gongjian_decision"  # on the record's state: decide() is writing this change

SUBMITTED_AS_PENDING = _l("A new submission is pending: a reviewer approves or rejects it")
NOT_YOUR_OWN = _l("You cannot approve or reject what you submitted: another reviewer decides")
NOT_A_REVIEWER = _l("Only a street or community administrator approves or rejects submissions")
BY_ACTION_ONLY = _l("A submission is approved or rejected with the Approve and Reject buttons, not by "
                    "editing it")


def is_reviewer(person, record):
    """Whether ``person`` holds the review permission on ``record``'s kind (scope aside)."""
    return holds(person, REVIEW, type(record).__name__)


def reviewer_refusal(record, person):
    """Why ``person`` may not decide ``record`` (a message), or None. None for the system."""
    if person is None:
        return None
    if record.submitted_by is not None and record.submitted_by == person.username:
        return NOT_YOUR_OWN
    if not is_reviewer(person, record):
        return NOT_A_REVIEWER
    return None


def mark_decision(record, decision):
    """Let the next flush write ``record``'s decision columns (app/approvals/ calls it, after its
    own checks) and name its audit entry ``decision`` ("approve" or "reject")."""
    sa_inspect(record).info[_DECISION_KEY] = decision
    name_next_update(record, decision)


def clear_decision(record):
    """Undo :func:`mark_decision` (the decision was refused or rolled back)."""
    sa_inspect(record).info.pop(_DECISION_KEY, None)
    name_next_update(record, None)


def _changed(record, columns):
    state = sa_inspect(record)
    return {name for name in columns if state.attrs[name].history.has_changes()}


def _committed(record, column):
    history = sa_inspect(record).attrs[column].history
    return history.deleted[0] if history.deleted else getattr(record, column)


def _check_new(record, person):
    record.submitted_by = person.username
    if (record.status or PENDING) != PENDING or record.reviewed_by or record.reviewed_at:
        raise DutiesRefused({"status": [SUBMITTED_AS_PENDING]})
    record.status = PENDING


def _check_change(record, person):
    marked = sa_inspect(record).info.pop(_DECISION_KEY, None)
    if "submitted_by" in _changed(record, ("submitted_by",)):
        raise DutiesRefused({"status": [NOT_YOUR_OWN]})  # who submitted is not rewritten
    if _changed(record, DECISION_COLUMNS):
        refused = reviewer_refusal(record, person) or (None if marked else BY_ACTION_ONLY)
        if refused is not None:
            raise DutiesRefused({"status": [refused]})
        return
    if _committed(record, "status") == REJECTED and record.submitted_by == person.username:
        # The submitter corrected a rejected submission: it goes back to the reviewers.
        record.status = PENDING
        record.reviewed_by = record.reviewed_at = record.reject_reason = record.review_note = None


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
            _check_change(record, person)


def install():
    """Register the session hook."""
    listen_once("before_flush", check_approvals)
