"""Separation of duties (三员分立) held in code, whatever screen, API or form the write comes from.

The three privileged roles — the system administrator, the security administrator and the
auditor — are given, taken and reset only on the command line (``gongjian`` commands, where a
person with the server in hand acts); an account holding one holds no other role, so no account
ever holds two. A person signed in to the app:

* never changes their own roles or their own area (scope row);
* gives and takes business roles only (street, community, liaison, organisation department…);
* cannot change, deactivate, delete or reset the password of an account holding a privileged
  role (the security administrator could otherwise take over the auditor's account in two steps).

A session hook (``install``) refuses such a write at flush time on every path; the account
screens call :func:`check_account` first so the refusal reads as a message on the form.
"""
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect

from app.core import actor
from app.core.audit import record_event
from app.core.refusals import MessageRefused
from app.extensions import db, listen_once
from models.user_scope import UserScope

__all__ = [
    "PRIVILEGED",
    "DutiesRefused",
    "acting_person",
    "check_account",
    "check_account_writes",
    "check_password_reset",
    "check_scope_row",
    "check_two_factor_reset",
    "install",
    "is_privileged",
    "refusal",
    "refuse_and_audit",
]

PRIVILEGED = ("Admin", "SecurityAdmin", "Auditor")

OWN_ACCOUNT = _l("No one changes their own roles or area: ask the security administrator")
PRIVILEGED_ON_THE_COMMAND_LINE = _l(
    "The system administrator, security administrator and auditor roles are given and taken on the "
    "command line only")
PRIVILEGED_ALONE = _l(
    "An account with the system administrator, security administrator or auditor role holds no other role")
PRIVILEGED_ACCOUNT = _l(
    "The account of a system administrator, security administrator or auditor is changed, reset or "
    "removed on the command line only")
OWN_TWO_FACTOR = _l("Your own second factor is managed on your two-factor authentication page")
# What a person may not change on a privileged account (its name, e-mail, login counters may change).
GUARDED_COLUMNS = ("roles", "password", "active", "username")


class DutiesRefused(MessageRefused):
    """A write that would undo the separation of duties."""


def is_privileged(role_names):
    return any(name in PRIVILEGED for name in role_names)


def acting_person():
    """The person acting, or None for the command line and the system itself."""
    if actor.is_system() or actor.current_via() == "cli":
        return None
    return actor.current_user()


def _roles_history(account):
    account.roles  # noqa: B018  (loads the collection: an unloaded one has an empty history)
    history = sa_inspect(account).attrs.roles.history
    before = [role.name for role in list(history.unchanged) + list(history.deleted)]
    after = [role.name for role in list(history.unchanged) + list(history.added)]
    return before, after, bool(history.added or history.deleted)


def _changed(account):
    state = sa_inspect(account)
    return {name for name in GUARDED_COLUMNS if state.attrs[name].history.has_changes()}


def refusal(account, deleting=False, person=None):
    """Why writing ``account`` (an ab_user being added, changed or deleted) as ``person`` (None:
    the command line) would undo the separation of duties, or None."""
    before, after, roles_changed = _roles_history(account)
    if roles_changed and is_privileged(after) and len(set(after)) > 1:
        return "roles", PRIVILEGED_ALONE
    if person is None:
        return None
    is_new = sa_inspect(account).pending or sa_inspect(account).transient
    if not is_new and account.id == person.id and (roles_changed or deleting):
        return "roles", OWN_ACCOUNT
    if roles_changed and is_privileged(set(before) ^ set(after)):
        return "roles", PRIVILEGED_ON_THE_COMMAND_LINE
    if not is_new and is_privileged(before) and account.id != person.id and (deleting or _changed(account)):
        return "roles", PRIVILEGED_ACCOUNT
    return None


def check_account(account, deleting=False):
    """Raise :class:`DutiesRefused` if the acting person may not write ``account`` so."""
    found = refusal(account, deleting, acting_person())
    if found is not None:
        field, message = found
        raise DutiesRefused({field: [message]})


def check_password_reset(account):
    """Raise :class:`DutiesRefused` if the acting person may not reset ``account``'s password
    (their own they change on their own page; a privileged account's, nobody's)."""
    person = acting_person()
    if person is not None and account.id != person.id and is_privileged(role.name for role in account.roles):
        raise DutiesRefused({"password": [PRIVILEGED_ACCOUNT]})


def check_two_factor_reset(account):
    """Raise :class:`DutiesRefused` if the acting person may not reset ``account``'s second factor:
    a person on a screen resets only another account's, and never a privileged one's (the
    security administrator could otherwise let themselves into the auditor's account)."""
    person = acting_person()
    if person is None:
        return
    if account.id == person.id:
        raise DutiesRefused({"two_factor": [OWN_TWO_FACTOR]})
    if is_privileged(role.name for role in account.roles):
        raise DutiesRefused({"two_factor": [PRIVILEGED_ACCOUNT]})


def check_scope_row(row):
    """Raise :class:`DutiesRefused` if the acting person is writing their own scope row."""
    person = acting_person()
    user_id = row.user.id if getattr(row, "user", None) is not None else row.user_id
    history = sa_inspect(row).attrs.user_id.history
    owners = {user_id, *(history.deleted or ())}
    if person is not None and person.id in owners:
        raise DutiesRefused({"user": [OWN_ACCOUNT]})


def refuse_and_audit(check, record, *args):
    """Run a check of this module on ``record`` for a screen; a refusal rolls the session back,
    is audited ("denied", with its reason), and raised again (FAB's forms flash it)."""
    try:
        check(record, *args)
    except DutiesRefused as refused:
        table, record_id = record.__tablename__, record.id
        db.session.rollback()
        record_event("denied", table, record_id, summary=str(refused))
        raise


def check_account_writes(session, flush_context, instances):
    """Session hook: accounts and their scope rows written as the separation of duties allows."""
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, User):
            if obj in session.deleted or session.is_modified(obj):
                check_account(obj, deleting=obj in session.deleted)
        elif isinstance(obj, UserScope) and (obj in session.new or obj in session.deleted
                                             or session.is_modified(obj)):
            check_scope_row(obj)


def install():
    """Register the session hook."""
    listen_once("before_flush", check_account_writes)
