"""Approvals (审核): the one state machine of every record that is approved — needs, resources,
projects, project claims (models.lists.ApprovalMixin) — used by the screens' buttons, the API's
approve/reject endpoints and any later caller (app/approvals/decisions.py). The four-eyes rule
that keeps every other write away from the decision is app/core/approvals.py."""
from app.approvals.decisions import (
    APPROVE,
    DECISIONS,
    REJECT,
    AlreadyDecided,
    DecisionRefused,
    NotAllowedToDecide,
    decide,
    decide_all,
)

__all__ = ["APPROVE", "DECISIONS", "REJECT", "AlreadyDecided", "DecisionRefused", "NotAllowedToDecide", "decide",
           "decide_all"]
