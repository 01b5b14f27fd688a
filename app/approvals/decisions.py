"""The state machine of an approved record: pending → approved | rejected.

* A rejection needs a reason; an approval may carry a note.
* Only a person who holds the review permission decides, never the submitter
  (app/core/approvals.py ``reviewer_refusal``); scope is the caller's: it found the record
  through the scoped query of its screen or API, so an out-of-scope record never gets here.
* A decided record is final for decisions: a second one is refused (``AlreadyDecided``). The
  submitter editing a rejected record's content resubmits it (the hook of app/core/approvals.py).
* Each decision is ONE audit entry, action ``approve`` or ``reject``, with the decision columns'
  before and after. (A refusal of the person is audited by its caller: the API's 403 by the
  refusal hook of app/core/audit.py, a screen's by the screen.)

Several records are decided together or not at all (a list's bulk approval).
"""
from flask_babel import lazy_gettext as _l

from app.core.approvals import APPROVED, PENDING, REJECTED, clear_decision, mark_decision, reviewer_refusal
from app.core.refusals import MessageRefused
from app.extensions import db
from models.base import utcnow
from models.lists import APPROVAL_STATUS

APPROVE, REJECT = "approve", "reject"
DECISIONS = {APPROVE: APPROVED, REJECT: REJECTED}
# The request's field of each decision's text (the record keeps it as reject_reason / review_note).
TEXT_FIELD = {APPROVE: "note", REJECT: "reason"}
TEXT_MAX = 1000
SYSTEM = "system"

REASON_NEEDED = _l("Give the reason for the rejection")
TEXT_TOO_LONG = _l("At most %(max)s characters", max=TEXT_MAX)


class DecisionRefused(MessageRefused):
    """A decision the state machine refuses; ``http_status`` is the API's answer."""

    http_status = 400


class NotAllowedToDecide(DecisionRefused):
    """The submitter, or a person who does not review."""

    http_status = 403


class AlreadyDecided(DecisionRefused):
    """The record is approved or rejected already."""

    http_status = 409


def decide(record, decision, text, person):
    """Approve (``decision`` "approve", ``text`` an optional note) or reject ("reject", ``text``
    the reason) ``record`` as ``person`` (None: the system) and commit; returns the record.
    Raises a :class:`DecisionRefused` (nothing written)."""
    return decide_all([record], decision, text, person)[0]


def decide_all(records, decision, text, person):
    """:func:`decide` for several records: all of them, or none and the first refusal."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    session = db.session
    try:
        for record in records:
            # Read again, locked until the commit (PostgreSQL): of two reviewers at the same
            # moment, the second sees the first one's decision and is refused.
            session.refresh(record, with_for_update=True)
            _check(record, person)
        text = _checked_text(decision, text)
        now = utcnow()
        for record in records:
            record.status = DECISIONS[decision]
            record.reviewed_by = SYSTEM if person is None else person.username[:50]
            record.reviewed_at = now
            record.reject_reason = text if decision == REJECT else None
            record.review_note = text if decision == APPROVE else None
            mark_decision(record, decision)
        session.commit()
    except BaseException:
        _undo(session, records)
        raise
    return records


def _check(record, person):
    refused = reviewer_refusal(record, person)
    if refused is not None:
        raise NotAllowedToDecide({"status": [refused]})
    if record.status != PENDING:
        raise AlreadyDecided({"status": [_l("This submission has already been decided (%(status)s): a decision "
                                            "is final", status=APPROVAL_STATUS.label(record.status))]})


def _checked_text(decision, text):
    field = TEXT_FIELD[decision]
    text = (text or "").strip() or None
    if text is None and decision == REJECT:
        raise DecisionRefused({field: [REASON_NEEDED]})
    if text is not None and len(text) > TEXT_MAX:
        raise DecisionRefused({field: [TEXT_TOO_LONG]})
    return text


def _undo(session, records):
    session.rollback()
    for record in records:
        clear_decision(record)
