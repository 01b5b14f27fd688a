"""The rows that belong to an account go with it when it is removed.

Their foreign keys say ``ON DELETE CASCADE``, which PostgreSQL does; SQLite (foreign keys off, as
here) does not, and may give the next account the same id — which would then inherit the removed
account's lock, epoch, sessions, password history and second factor. A session hook deletes them on every path.
"""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import delete

from app.extensions import listen_once
from models.account_epoch import AccountEpoch
from models.login_guard import LoginGuard
from models.password_record import AccountPassword, PasswordHistory
from models.two_factor import RecoveryCode, TwoFactor
from models.user_session import UserSession

__all__ = ["ACCOUNT_TABLES", "install", "remove_account_rows"]

ACCOUNT_TABLES = (UserSession, AccountPassword, PasswordHistory, LoginGuard, AccountEpoch, TwoFactor, RecoveryCode)


def remove_account_rows(session, flush_context, instances):
    """Session hook: delete the removed accounts' own rows before the accounts go."""
    removed = {obj.id for obj in session.deleted if isinstance(obj, User) and obj.id is not None}
    for model in ACCOUNT_TABLES if removed else ():
        session.execute(delete(model).where(model.user_id.in_(removed)).execution_options(synchronize_session=False))


def install():
    """Register the session hook."""
    listen_once("before_flush", remove_account_rows)
