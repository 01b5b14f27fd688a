"""Separation of duties (三员分立, issue 14): the attacks a security administrator could make on
the separation through the account screens fail, and are audited; what the role is for still
works. The rule (app/core/duties.py) also holds below the screens, in the session, where the
command line is the only way to give a privileged role and no account holds two."""
import re

import pytest
from sqlalchemy import func, select

from app.core.actor import acting_as
from app.core.duties import OWN_ACCOUNT, PRIVILEGED_ACCOUNT, PRIVILEGED_ALONE, DutiesRefused
from app.extensions import db
from tests.factories import PASSWORD, throwaway_account, user

THROWAWAY = "temp_worker"


def zh(app, message):
    with app.test_request_context("/"):
        return str(message)


def cli(app, *args):
    """A ``gongjian`` command as an operator runs it; the result whatever its exit code."""
    return app.test_cli_runner().invoke(args=["gongjian", *args])


def role_names(app, username):
    with app.app_context():
        names = sorted(role.name for role in user(app, username).roles)
        db.session.remove()
        return names


def password_hash(app, username):
    with app.app_context():
        value = user(app, username).password
        db.session.remove()
        return value


def denied_entries(app):
    from models import AuditLog

    with app.app_context():
        count = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "denied")).scalar_one()
        db.session.remove()
        return count


def role_id(app, name):
    with app.app_context():
        found = app.appbuilder.sm.find_role(name).id
        db.session.remove()
        return found


@pytest.fixture
def throwaway(app):
    """An ordinary community admin account the test may change; removed afterwards."""
    with throwaway_account(app, THROWAWAY) as pk:
        yield pk


def account_form(app, username, **changes):
    with app.app_context():
        account = user(app, username)
        data = {"first_name": account.first_name, "last_name": account.last_name, "username": account.username,
                "email": account.email, "active": "y" if account.active else "",
                "roles": [role.id for role in account.roles]}
        pk = account.id
        db.session.remove()
    data.update(changes)
    return pk, data


def edit_account(app, client, username, **changes):
    pk, data = account_form(app, username, **changes)
    return client.submit(f"/users/edit/{pk}", data)


def flashed(client):
    return re.sub(r"\s+", " ", client.get("/users/list/").get_data(as_text=True))


def test_the_security_admin_cannot_change_their_own_roles(app, world, browser):
    """Making their own account organisation department (a role they may give others): refused,
    said on the page, audited. Adding a privileged role is not even a choice of the form."""
    security = browser("security")
    before, denied = role_names(app, "security"), denied_entries(app)
    edit_account(app, security, "security", roles=[role_id(app, "OrgDept")])
    assert zh(app, OWN_ACCOUNT) in flashed(security)
    for role in ("Admin", "Auditor"):
        edit_account(app, security, "security", roles=[role_id(app, "SecurityAdmin"), role_id(app, role)])
    assert role_names(app, "security") == before == ["SecurityAdmin"]
    assert denied_entries(app) == denied + 1


@pytest.mark.parametrize("role", ["Admin", "SecurityAdmin", "Auditor"])
def test_a_privileged_role_is_not_given_on_a_screen(app, world, browser, throwaway, role):
    """Neither offered in the form nor accepted when posted anyway."""
    security = browser("security")
    form = security.get(f"/users/edit/{throwaway}").get_data(as_text=True)
    assert f"({role})</option>" not in form and "(CommunityAdmin)</option>" in form
    edit_account(app, security, THROWAWAY, roles=[role_id(app, role)])
    assert role_names(app, THROWAWAY) == ["CommunityAdmin"]


def test_the_security_admin_gives_business_roles_to_other_accounts(app, world, browser, throwaway):
    security = browser("security")
    response = edit_account(app, security, THROWAWAY, roles=[role_id(app, "OrgDept")])
    assert response.status_code == 302
    assert role_names(app, THROWAWAY) == ["OrgDept"]


@pytest.mark.parametrize("victim", ["admin", "auditor"])
def test_a_privileged_accounts_password_is_not_reset_on_a_screen(app, world, browser, victim):
    """The security admin resetting the auditor's password, then logging in as them: refused at
    the first step, said on the page, audited; the old password still works."""
    security = browser("security")
    before, denied = password_hash(app, victim), denied_entries(app)
    pk, _data = account_form(app, victim)
    response = security.submit(f"/resetpassword/form?pk={pk}",
                               {"password": "Taken-0ver!pass", "conf_password": "Taken-0ver!pass"})
    assert response.status_code == 302
    assert zh(app, PRIVILEGED_ACCOUNT) in flashed(security)
    assert password_hash(app, victim) == before
    assert denied_entries(app) == denied + 1
    assert browser(victim).get("/users/userinfo/").status_code == 200  # still their own password


def test_the_security_admin_resets_an_ordinary_accounts_password(app, world, browser, throwaway):
    security = browser("security")
    before = password_hash(app, THROWAWAY)
    response = security.submit(f"/resetpassword/form?pk={throwaway}",
                               {"password": "Fresh-Start-2026!", "conf_password": "Fresh-Start-2026!"})
    assert response.status_code == 302
    assert password_hash(app, THROWAWAY) != before


@pytest.mark.parametrize("victim", ["admin", "auditor"])
def test_a_privileged_account_is_not_deactivated_or_deleted_on_a_screen(app, world, browser, victim):
    security = browser("security")
    edit_account(app, security, victim, active="")
    pk, _data = account_form(app, victim)
    security.post(f"/users/delete/{pk}", with_token_from="/users/add")
    with app.app_context():
        account = user(app, victim)
        assert account is not None and account.active
        db.session.remove()


def test_roles_permissions_are_read_only_for_everyone(app, world, browser):
    """'can read on AuditLog' cannot be added to the security admin's own role: no role screen
    edits or adds a role (the role table in app/core/roles.py is the only source)."""
    from flask_appbuilder.security.sqla.models import Role

    security = browser("security")
    with app.app_context():
        role = db.session.scalars(select(Role).where(Role.name == "SecurityAdmin")).one()
        pk, count = role.id, len(role.permissions)
        db.session.remove()
    for url in (f"/roles/edit/{pk}", "/roles/add"):
        page = security.get(url)
        assert page.status_code in (302, 403), url
    response = security.client.post(f"/roles/edit/{pk}", data={"name": "SecurityAdmin", "permissions": [1, 2, 3]})
    assert response.status_code in (302, 400, 403)
    with app.app_context():
        assert len(db.session.get(Role, pk).permissions) == count
        db.session.remove()


def test_no_one_sets_their_own_area(app, world, browser, api):
    """The security admin gives areas to other accounts, never to their own (screen and API)."""
    from models import UserScope

    security_id, _data = account_form(app, "security")
    response = api("security").post("/api/v1/user_scope/", json={"user": security_id, "area": world["district"]})
    assert response.status_code == 400
    assert response.json["message"] == {"user": [zh(app, OWN_ACCOUNT)]}
    browser("security").submit("/userscopeview/add", {"user": security_id, "area": world["district"]})
    with app.app_context():
        assert db.session.scalars(select(UserScope).where(UserScope.user_id == security_id)).all() == []
        db.session.remove()


def test_on_the_command_line_a_privileged_role_is_given_but_never_a_second_one(app, world, throwaway):
    """Below the screens, in the session: the command line (or the system) may make an account an
    auditor; an account with a privileged role holds no other, whoever writes."""
    with app.app_context():
        sm = app.appbuilder.sm
        with acting_as(None, via="cli"):
            account = user(app, THROWAWAY)
            account.roles = [sm.find_role("Auditor")]
            db.session.commit()
            account.roles = [sm.find_role("Auditor"), sm.find_role("Admin")]
            with pytest.raises(DutiesRefused) as refused:
                db.session.commit()
            assert refused.value.errors == {"roles": [PRIVILEGED_ALONE]}
            db.session.rollback()
        db.session.remove()
    assert role_names(app, THROWAWAY) == ["Auditor"]


def test_a_signed_in_person_cannot_give_a_privileged_role_by_any_path(app, world, throwaway):
    """The session hook refuses what a screen would, whatever wrote the account (e.g. FAB's own
    security API): acting as the security admin on the web, adding the auditor role fails."""
    with app.app_context():
        security = user(app, "security")
        with acting_as(security, via="web"):
            account = user(app, THROWAWAY)
            account.roles = [app.appbuilder.sm.find_role("Auditor")]
            with pytest.raises(DutiesRefused):
                db.session.commit()
            db.session.rollback()
        db.session.remove()
    assert role_names(app, THROWAWAY) == ["CommunityAdmin"]


def test_the_command_line_gives_and_takes_privileged_roles(app, world, throwaway):
    result = cli(app, "set-role", "--username", THROWAWAY, "--role", "Auditor")
    assert result.exit_code == 0, result.output
    assert role_names(app, THROWAWAY) == ["Auditor"]
    result = cli(app, "set-role", "--username", THROWAWAY, "--role", "CommunityAdmin")
    assert result.exit_code == 0 and role_names(app, THROWAWAY) == ["CommunityAdmin"]
    result = cli(app, "set-role", "--username", THROWAWAY, "--role", "NoSuchRole")
    assert result.exit_code != 0 and "NoSuchRole" in result.output


def test_the_command_line_resets_a_privileged_accounts_password(app, world, browser):
    """The reset is the command line's; the owner then chooses their own password at the next
    login (app/core/passwords.py), and a reset to a recent password is refused."""
    from app.core import passwords

    before = password_hash(app, "auditor")
    refused = cli(app, "reset-password", "--username", "auditor", "--password", PASSWORD)
    assert refused.exit_code != 0 and password_hash(app, "auditor") == before
    try:
        result = cli(app, "reset-password", "--username", "auditor", "--password", "Reset-By-Cli-2026!")
        assert result.exit_code == 0, result.output
        assert password_hash(app, "auditor") != before
        signed_in = browser()
        signed_in.login("auditor", "Reset-By-Cli-2026!")
        page = signed_in.get("/users/userinfo/")
        assert page.status_code == 302 and "/password/change" in page.headers["Location"]
    finally:
        with app.app_context(), acting_as(None, via="test"):
            account = user(app, "auditor")
            account.password = passwords.hash_password(PASSWORD)
            db.session.commit()
            passwords.set_must_change(account.id, False)
            db.session.commit()


@pytest.mark.parametrize("weak", ["short1A!", "alllowercaseletters", "1234567890123"])
def test_the_command_line_refuses_a_weak_password(app, world, weak):
    result = cli(app, "create-admin", "--username", "weak_admin", "--email", "weak@example.org",
                     "--password", weak)
    assert result.exit_code != 0
    assert "10" in result.output  # the policy, said
    with app.app_context():
        assert user(app, "weak_admin") is None
    result = cli(app, "reset-password", "--username", "auditor", "--password", weak)
    assert result.exit_code != 0
