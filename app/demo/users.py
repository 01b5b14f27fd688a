"""The contract's demo users (admin, security, orgdept, auditor, street1, community1, community2,
liaison1) and their scope rows; bench/seed_large.py creates them in its own district too."""
import click
from flask import current_app
from sqlalchemy import select

from app.core.passwords import PasswordRefused, check_new_password, set_must_change
from app.extensions import db
from models import Area, Unit, UserScope

# username -> (role, first name shown in the UI); the scope rows are set in create_demo_users.
DEMO_USERS = {
    "admin": ("Admin", "系统管理员"),
    "security": ("SecurityAdmin", "安全管理员"),
    "orgdept": ("OrgDept", "组织部"),
    "auditor": ("Auditor", "审计员"),
    "street1": ("StreetAdmin", "街道管理员"),
    "community1": ("CommunityAdmin", "社区管理员"),
    "community2": ("CommunityAdmin", "社区管理员"),
    "liaison1": ("UnitLiaison", "单位联络员"),
}


def create_demo_users(street_id, community1_id, community2_id, liaison_unit_id, password=None):
    """Create the contract's users that are missing, with their scope rows; returns how many were
    created. ``community1`` must lie in street1, ``community2`` in another street, and the
    liaison's unit must be checked in to community1. The demo logins keep the demo password: they
    are not asked to change it at the first login (an account made on the command line would be)."""
    sm = current_app.appbuilder.sm
    password = password or current_app.config["DEMO_PASSWORD"]
    try:  # the password policy holds for the demo password too (GONGJIAN_DEMO_PASSWORD)
        check_new_password(password, field="GONGJIAN_DEMO_PASSWORD")
    except PasswordRefused as weak:
        raise click.ClickException(str(weak)) from None
    scopes = {
        "street1": {"area": db.session.get(Area, street_id)},
        "community1": {"area": db.session.get(Area, community1_id)},
        "community2": {"area": db.session.get(Area, community2_id)},
        "liaison1": {"unit": db.session.get(Unit, liaison_unit_id)},
    }
    created = 0
    for username, (role_name, first_name) in DEMO_USERS.items():
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role(role_name)
            if role is None:
                raise click.ClickException(f"No role {role_name!r}; run `flask --app app gongjian init` first")
            user = sm.add_user(username, first_name, username, f"{username}@demo.gongjian.invalid", role, password)
            if not user:
                raise click.ClickException(f"Could not create the demo user {username!r} (see the log)")
            set_must_change(user.id, False)
            created += 1
        if username in scopes and db.session.execute(
            select(UserScope.id).where(UserScope.user_id == user.id)
        ).first() is None:
            db.session.add(UserScope(user=user, **scopes[username]))
    db.session.commit()
    return created
