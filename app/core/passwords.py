"""The password policy, held once for every path that sets a password: the account screens (add,
reset, change one's own), the forced-change screen and API, FAB's security API (through
``app.core.formats.password_complexity``, FAB's validator) and the ``gongjian`` commands.

The rules are data, rows of the parameters table (models/reference.py ``DEFAULT_SETTINGS``), so
the district tunes them: minimum length (10), how many kinds of characters out of lower case,
upper case, digits and symbols (3), how many past passwords may not be used again (5), and after
how many days a password must be changed (90; 0: never).

:func:`check_new_password` checks a plain password where it is known (screens, API, CLI). The
session hook (``install``) sees every change of ``ab_user.password`` on any path and records it
(models/password_record.py): the hash in the account's history, when and by whom, and whether the
owner must choose a new one at the next login — an account created or a password set by someone
else (a person on a screen, or the command line) must; one's own change clears it; work of the
system itself (seeding, fixtures) sets nothing to change.

This module imports the model submodules only (not the ``models`` package): app/core/formats.py
calls it, and the models package imports formats.
"""
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g, has_app_context
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy import inspect as sa_inspect
from werkzeug.security import check_password_hash, generate_password_hash

from app.core import actor
from app.core.calendar import utcnow
from app.core.refusals import MessageRefused
from app.extensions import db, listen_once
from models.password_record import AccountPassword, PasswordHistory
from models.reference import DEFAULT_SETTINGS, Setting

__all__ = ["PasswordRefused", "Policy", "change_reason", "check_new_password", "describe_policy", "hash_password", "install",
           "password_complexity", "policy", "set_must_change", "set_password", "verify_password"]

# setting key -> (Policy field, smallest, largest): a value outside is taken as the nearest bound,
# one that is not a whole number as the shipped default.
POLICY_SETTINGS = {
    "password_min_length": ("min_length", 6, 128),
    "password_char_classes": ("char_classes", 1, 4),
    "password_history": ("history", 0, 24),
    "password_expiry_days": ("expiry_days", 0, 3650),
}
HISTORY_KEPT = 24  # the largest history setting: older hashes are pruned
CHARACTER_CLASSES = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")

SET_BY_SOMEONE_ELSE = _l("Your password was set by someone else: choose your own password before you go on")


class PasswordRefused(MessageRefused):
    """A new password the policy refuses: ``errors`` = {field: [the rules it breaks]}."""


@dataclass(frozen=True)
class Policy:
    min_length: int
    char_classes: int
    history: int
    expiry_days: int


def _whole(value, default, smallest, largest):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = int(default)
    return max(smallest, min(largest, number))


def policy():
    """The policy the parameters table sets now (the shipped defaults without an app or a row);
    read once per request."""
    if has_app_context() and "gongjian_password_policy" in g:
        return g.gongjian_password_policy
    values = {}
    if has_app_context():
        with db.session.no_autoflush:
            values = dict(db.session.execute(
                select(Setting.key, Setting.value).where(Setting.key.in_(POLICY_SETTINGS))).all())
    found = Policy(**{field: _whole(values.get(key), DEFAULT_SETTINGS[key][0], low, high)
                      for key, (field, low, high) in POLICY_SETTINGS.items()})
    if has_app_context():
        g.gongjian_password_policy = found
    return found


def describe_policy():
    """The whole policy in one sentence (the command line and the change form show it)."""
    rules = policy()
    return _l("A password needs at least %(length)d characters, of at least %(count)d of these kinds: lower-case "
              "letters, upper-case letters, digits, symbols, and may not be one of the account's last "
              "%(history)d passwords", length=rules.min_length, count=rules.char_classes, history=rules.history)


def _composition_errors(plain, rules):
    errors = []
    if len(plain) < rules.min_length:
        errors.append(_l("The password needs at least %(length)d characters", length=rules.min_length))
    kinds = sum(1 for pattern in CHARACTER_CLASSES if re.search(pattern, plain))
    if kinds < rules.char_classes:
        errors.append(_l("The password needs characters of at least %(count)d of these kinds: lower-case "
                         "letters, upper-case letters, digits, symbols", count=rules.char_classes))
    return errors


def _recent_hashes(account, count):
    """The hashes of the account's current password and its last ``count`` ones."""
    hashes = {account.password} if account.password else set()
    if count > 0 and account.id is not None:
        with db.session.no_autoflush:
            hashes.update(db.session.scalars(
                select(PasswordHistory.password_hash).where(PasswordHistory.user_id == account.id)
                .order_by(PasswordHistory.id.desc()).limit(count)))
    return hashes


def check_new_password(plain, account=None, field="password"):
    """Raise :class:`PasswordRefused` naming every rule ``plain`` breaks as ``account``'s new
    password (length, kinds of characters; with an account, its last N passwords too)."""
    plain = plain or ""
    rules = policy()
    errors = _composition_errors(plain, rules)
    reused = not errors and account is not None and rules.history > 0 and any(
        check_password_hash(hashed, plain) for hashed in _recent_hashes(account, rules.history))
    if reused:
        errors.append(_l("The password must differ from the account's last %(count)d passwords",
                             count=rules.history))
    if errors:
        raise PasswordRefused({field: errors})


def password_complexity(plain):
    """FAB's validator (the account add screen, FAB's own forms and its security API): the
    policy's length and kinds of characters, as FAB's error."""
    try:
        check_new_password(plain)
    except PasswordRefused as refused:
        raise PasswordComplexityValidationError(str(refused)) from None


def hash_password(plain):
    """The hash FAB stores (its configured method and salt length)."""
    config = current_app.config
    return generate_password_hash(plain, method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
                                  salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16))


def verify_password(account, plain):
    return bool(account is not None and account.password and plain) and check_password_hash(account.password, plain)


def set_password(account, plain):
    """Check ``plain`` against the policy and the account's history, then set it (uncommitted):
    the session hook records who set it and whether the owner must change it."""
    check_new_password(plain, account)
    account.password = hash_password(plain)


def set_must_change(user_id, must_change):
    """Say whether the account must choose a new password at its next login (uncommitted)."""
    row = db.session.get(AccountPassword, user_id)
    if row is None:
        row = AccountPassword(user_id=user_id, changed_at=utcnow(), changed_by="system")
        db.session.add(row)
    row.must_change = must_change


def change_reason(account):
    """Why ``account`` must choose a new password before doing anything else, or None."""
    if account is None or getattr(account, "id", None) is None:
        return None
    with db.session.no_autoflush:
        row = db.session.get(AccountPassword, account.id)
    if row is None:
        return None
    if row.must_change:
        return SET_BY_SOMEONE_ELSE
    days = policy().expiry_days
    if days and row.changed_at is not None and row.changed_at + timedelta(days=days) <= utcnow():
        return _l("Your password is more than %(days)d days old: choose a new password before you go on",
                  days=days)
    return None


# ---- the session hook: every password set, on any path -----------------------------------------

def _who_set_it(account, is_new):
    """(changed_by, must_change) of a password being set on ``account`` now."""
    person = actor.current_user()
    if person is not None:
        own = not is_new and getattr(person, "id", None) == account.id
        return person.username, not own
    if actor.current_via() == "cli":
        return "cli", True  # an operator set it for the account's owner
    return "system", False


def _password_set(obj, session):
    if obj in session.deleted:
        return False
    if obj in session.new:
        return bool(obj.password)
    return sa_inspect(obj).attrs.password.history.has_changes()


def record_password_changes(session, flush_context, instances):
    """Session hook: each account whose password is set gets a history row and its age row."""
    pruned = session.info.setdefault("gongjian_password_pruned", set())
    for account in list(session.new) + list(session.dirty):
        if not isinstance(account, User) or not _password_set(account, session):
            continue
        is_new = account in session.new
        by, must_change = _who_set_it(account, is_new)
        now = utcnow()
        session.add(PasswordHistory(user=account, password_hash=account.password, changed_at=now))
        row = None
        if not is_new:
            with session.no_autoflush:
                row = session.get(AccountPassword, account.id)
            pruned.add(account.id)
        if row is None:
            row = AccountPassword(user=account)
            session.add(row)
        row.changed_at, row.changed_by, row.must_change = now, by[:64], must_change


def prune_history(session, flush_context):
    """Keep the newest ``HISTORY_KEPT`` hashes of each account whose password changed."""
    for user_id in session.info.pop("gongjian_password_pruned", set()):
        keep = (select(PasswordHistory.id).where(PasswordHistory.user_id == user_id)
                .order_by(PasswordHistory.id.desc()).limit(HISTORY_KEPT))
        session.connection().execute(delete(PasswordHistory).where(
            PasswordHistory.user_id == user_id, PasswordHistory.id.not_in(keep.scalar_subquery())))


def _forget(session, *_args):
    session.info.pop("gongjian_password_pruned", None)


def install():
    """Register the session hooks."""
    listen_once("before_flush", record_password_changes)
    listen_once("after_flush", prune_history)
    listen_once("after_rollback", _forget)
