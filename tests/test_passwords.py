"""The password policy on every path that sets a password (issue 14, login hardening): the account
add screen, the reset screen, one's own change (screen and API), FAB's own forms and the command
line all apply app/core/passwords.py — length, kinds of characters, the last N passwords — with
the rules read from the parameters table; an account whose password someone else set, or that
expired, must change it before doing anything else, on the screens and the API."""
import re
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from app.core.actor import acting_as
from app.extensions import db
from tests.conftest import PASSWORD, Api, Browser
from tests.factories import throwaway_account, user

NEWCOMER = "temp_pw_newcomer"
WORKER = "temp_pw_worker"
STRONG = "Fresh-Start-2026!"
OTHER = "Another-Start-2027?"


def zh(app, message, **params):
    with app.test_request_context("/"):
        from flask_babel import gettext

        return gettext(message, **params)


def text_of(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["gongjian", *args])


def api_login(app, username, password=PASSWORD, **extra):
    return app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", **extra})


def api_change(app, username, old, new):
    return app.test_client().post("/api/v1/security/password", json={
        "username": username, "old_password": old, "new_password": new})


def state(app, username):
    from models import AccountPassword

    with app.app_context():
        account = user(app, username)
        row = db.session.get(AccountPassword, account.id)
        found = None if row is None else (row.must_change, row.changed_by)
        db.session.remove()
        return found


def audit_count(app, action, summary):
    from models import AuditLog

    with app.app_context():
        count = db.session.execute(select(func.count(AuditLog.id)).where(
            AuditLog.action == action, AuditLog.summary == summary)).scalar_one()
        db.session.remove()
        return count


def set_setting(app, key, value):
    from models import Setting

    with app.app_context():
        with acting_as(None, via="test"):
            row = db.session.execute(select(Setting).where(Setting.key == key)).scalar_one()
            before, row.value = row.value, value
            db.session.commit()
        db.session.remove()
    return before


@pytest.fixture
def setting(app):
    """Change a parameter for the test; the shipped value is back afterwards."""
    saved = {}

    def change(key, value):
        saved.setdefault(key, set_setting(app, key, value))

    yield change
    for key, value in saved.items():
        set_setting(app, key, value)


@pytest.fixture
def worker(app, world):
    with throwaway_account(app, WORKER) as pk:
        yield pk


@pytest.fixture
def newcomer(app, world):
    """An account the security administrator creates on the add screen (removed afterwards)."""
    security = Browser(app, "security")
    with app.app_context():
        role = app.appbuilder.sm.find_role("CommunityAdmin").id
        db.session.remove()
    form = {"first_name": "新", "last_name": "同事", "username": NEWCOMER, "email": f"{NEWCOMER}@example.org",
            "active": "y", "roles": [role], "password": STRONG, "conf_password": STRONG}
    yield security, form
    with app.app_context(), acting_as(None, via="test"):
        account = user(app, NEWCOMER)
        if account is not None:
            db.session.delete(account)
            db.session.commit()
        db.session.remove()


# ---- the rule ------------------------------------------------------------------------------------

@pytest.mark.parametrize("password,broken", [
    ("Short-1a", ["length"]), ("alllowercaseletters", ["kinds"]), ("UPPER1234567", ["kinds"]),
    ("short", ["length", "kinds"]), ("Lower-and-digits1", []), ("长密码但是只有中文字符ab1", [])])
def test_the_rule_names_each_rule_broken(app, password, broken):
    from app.core.passwords import PasswordRefused, check_new_password

    with app.test_request_context("/"):
        if not broken:
            check_new_password(password)
            return
        with pytest.raises(PasswordRefused) as refused:
            check_new_password(password)
        messages = refused.value.messages()["password"]
    assert len(messages) == len(broken)
    assert ("10" in messages[0]) == ("length" in broken)


def test_the_district_tunes_the_rules_in_the_parameters_table(app, setting):
    from app.core.passwords import PasswordRefused, check_new_password, policy

    setting("password_min_length", "14")
    setting("password_char_classes", "4")
    with app.test_request_context("/"):
        assert (policy().min_length, policy().char_classes) == (14, 4)
    with app.test_request_context("/"), pytest.raises(PasswordRefused) as refused:
        check_new_password("Abcdefgh1234")  # 12 characters, no symbol
    assert len(refused.value.errors["password"]) == 2
    setting("password_min_length", "not a number")
    setting("password_char_classes", "99")
    with app.test_request_context("/"):
        assert (policy().min_length, policy().char_classes) == (10, 4)  # the default; the largest


# ---- the paths that set a password -----------------------------------------------------------------

def test_the_add_screen_refuses_a_weak_password_and_forces_the_newcomer_to_choose_one(app, newcomer):
    security, form = newcomer
    page = security.submit("/users/add", {**form, "password": "weakpass", "conf_password": "weakpass"})
    assert page.status_code == 200 and "10" in text_of(page)
    with app.app_context():
        assert user(app, NEWCOMER) is None
    assert security.submit("/users/add", form).status_code == 302
    assert state(app, NEWCOMER) == (True, "security")
    # The newcomer logs in and is sent to the change form from every screen.
    person = Browser(app)
    assert person.login(NEWCOMER, STRONG).status_code == 302
    for url in ("/", "/partymemberview/list/", "/users/userinfo/", "/resetmypassword/form", "/exportjobview/list/"):
        response = person.get(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/password/change"), url
    page = person.get("/password/change")
    assert page.status_code == 200
    assert zh(app, "Your password was set by someone else: choose your own password before you go on") in text_of(page)
    # Nor does the API give them a token.
    refused = api_login(app, NEWCOMER, STRONG)
    assert refused.status_code == 403 and list(refused.json["message"]) == ["password"]
    assert refused.json["password_change_url"].endswith("/api/v1/security/password")
    assert "access_token" not in refused.json


def test_the_forced_change_on_the_screen(app, newcomer):
    security, form = newcomer
    security.submit("/users/add", form)
    person = Browser(app)
    person.login(NEWCOMER, STRONG)
    second = Browser(app)
    second.login(NEWCOMER, STRONG)
    attempts = [
        ({"old_password": "wrong-Passw0rd!", "password": OTHER, "conf_password": OTHER}, "The current password is wrong"),
        ({"old_password": STRONG, "password": "tooweak", "conf_password": "tooweak"}, None),
        ({"old_password": STRONG, "password": STRONG, "conf_password": STRONG}, None),  # the same one again
        ({"old_password": STRONG, "password": OTHER, "conf_password": OTHER + "x"}, "The two new passwords differ"),
    ]
    for data, message in attempts:
        page = person.submit("/password/change", data)
        assert page.status_code == 200, data
        if message:
            assert zh(app, message) in text_of(page)
    assert "5" in text_of(person.submit("/password/change", attempts[2][0]))  # "the last 5 passwords"
    assert audit_count(app, "password_change_failed", NEWCOMER) == 1
    assert state(app, NEWCOMER)[0] is True
    done = person.submit("/password/change", {"old_password": STRONG, "password": OTHER, "conf_password": OTHER})
    assert done.status_code == 302 and "/login" in done.headers["Location"]
    # Every session of the account ended, the one that made the change included: log in again.
    for browser in (person, second):
        assert "/login" in browser.get("/partymemberview/list/", follow_redirects=True).request.path
    assert state(app, NEWCOMER) == (False, NEWCOMER)
    assert audit_count(app, "password_changed", NEWCOMER) == 1
    again = Browser(app)
    again.login(NEWCOMER, OTHER)
    assert again.get("/partymemberview/list/").status_code == 200
    assert Api(app, NEWCOMER, OTHER).headers


def test_the_forced_change_through_the_api(app, newcomer):
    security, form = newcomer
    security.submit("/users/add", form)
    wrong = api_change(app, NEWCOMER, "wrong-Passw0rd!", OTHER)
    assert wrong.status_code == 401 and list(wrong.json["message"]) == ["old_password"]
    weak = api_change(app, NEWCOMER, STRONG, "weak")
    assert weak.status_code == 400 and list(weak.json["message"]) == ["new_password"]
    reused = api_change(app, NEWCOMER, STRONG, STRONG)
    assert reused.status_code == 400 and "5" in reused.json["message"]["new_password"][0]
    missing = app.test_client().post("/api/v1/security/password", json={"username": NEWCOMER})
    assert missing.status_code == 400 and {"old_password", "new_password"} <= set(missing.json["message"])
    assert app.test_client().post("/api/v1/security/password", data="x").status_code == 400
    assert api_login(app, NEWCOMER, STRONG).status_code == 403
    assert api_change(app, NEWCOMER, STRONG, OTHER).status_code == 200
    assert api_login(app, NEWCOMER, STRONG).status_code == 401
    assert api_login(app, NEWCOMER, OTHER).status_code == 200
    assert state(app, NEWCOMER) == (False, NEWCOMER)
    assert audit_count(app, "password_changed", NEWCOMER) == 1


def test_the_reset_screen_applies_the_history_and_forces_a_change(app, worker):
    security = Browser(app, "security")
    page = security.submit(f"/resetpassword/form?pk={worker}", {"password": PASSWORD, "conf_password": PASSWORD})
    assert page.status_code == 200 and "5" in text_of(page)  # the account's current password
    assert state(app, WORKER) == (False, "system")
    page = security.submit(f"/resetpassword/form?pk={worker}", {"password": "short", "conf_password": "short"})
    assert page.status_code == 200 and state(app, WORKER) == (False, "system")
    assert security.submit(f"/resetpassword/form?pk={worker}",
                           {"password": STRONG, "conf_password": STRONG}).status_code == 302
    assert state(app, WORKER) == (True, "security")
    assert api_login(app, WORKER, STRONG).status_code == 403


def test_the_command_line_applies_the_history_and_forces_a_change(app, worker):
    result = cli(app, "reset-password", "--username", WORKER, "--password", PASSWORD)
    assert result.exit_code != 0 and "5" in result.output  # the current password
    assert state(app, WORKER) == (False, "system")
    result = cli(app, "reset-password", "--username", WORKER, "--password", "weak")
    assert result.exit_code != 0 and "10" in result.output
    result = cli(app, "reset-password", "--username", WORKER, "--password", STRONG)
    assert result.exit_code == 0, result.output
    assert state(app, WORKER) == (True, "cli")
    browser = Browser(app)
    browser.login(WORKER, STRONG)
    assert browser.get("/").headers["Location"].endswith("/password/change")
    # Its owner changes it, then may not go back to any of the last five.
    assert api_change(app, WORKER, STRONG, OTHER).status_code == 200
    for old in (STRONG, PASSWORD):
        assert api_change(app, WORKER, OTHER, old).status_code == 400
    assert state(app, WORKER) == (False, WORKER)


def test_an_account_created_on_the_command_line_must_change_its_password(app, world):
    result = cli(app, "create-admin", "--username", "temp_pw_admin", "--email", "pwadmin@example.org",
                 "--role", "OrgDept", "--password", STRONG)
    try:
        assert result.exit_code == 0, result.output
        assert state(app, "temp_pw_admin") == (True, "cli")
        assert api_login(app, "temp_pw_admin", STRONG).status_code == 403
    finally:
        with app.app_context(), acting_as(None, via="test"):
            db.session.delete(user(app, "temp_pw_admin"))
            db.session.commit()
            db.session.remove()


def test_the_history_holds_the_last_n_passwords(app, worker, setting):
    setting("password_history", "2")
    passwords = [PASSWORD, "Second-Passw0rd!", "Third-Passw0rd!", "Fourth-Passw0rd!"]
    for old, new in pairwise(passwords):
        assert api_change(app, WORKER, old, new).status_code == 200
    assert api_change(app, WORKER, passwords[-1], passwords[-2]).status_code == 400  # one of the last 2
    assert api_change(app, WORKER, passwords[-1], passwords[0]).status_code == 200  # three changes ago


def test_an_expired_password_must_be_changed_and_zero_days_never_expire(app, worker, setting):
    from models import AccountPassword
    from models.base import utcnow

    with app.app_context():
        db.session.get(AccountPassword, worker).changed_at = utcnow() - timedelta(days=91)
        db.session.commit()
        db.session.remove()
    browser = Browser(app)
    browser.login(WORKER)
    assert browser.get("/partymemberview/list/").headers["Location"].endswith("/password/change")
    assert zh(app, "Your password is more than %(days)d days old: choose a new password before you go on",
              days=90) in text_of(browser.get("/password/change"))
    assert api_login(app, WORKER).status_code == 403
    setting("password_expiry_days", "0")
    assert browser.get("/partymemberview/list/").status_code == 200
    assert api_login(app, WORKER).status_code == 200


def test_the_forced_change_is_not_skipped_by_another_url_or_a_refresh_token(app, worker):
    """A refresh token made before the password expired makes no new access token."""
    from models import AccountPassword
    from models.base import utcnow

    answer = api_login(app, WORKER, refresh=True)
    refresh = answer.json["refresh_token"]
    with app.app_context():
        db.session.get(AccountPassword, worker).changed_at = utcnow() - timedelta(days=365)
        db.session.commit()
        db.session.remove()
    refused = app.test_client().post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh}"})
    assert refused.status_code == 403 and list(refused.json["message"]) == ["password"]
    browser = Browser(app)
    browser.login(WORKER)
    for url in ("/users/userinfo/", "/notificationview/list/", "/password/../", "/resetmypassword/form"):
        assert browser.get(url).status_code == 302, url
    assert browser.get("/logout/").status_code == 302  # logout stays open


def test_the_test_accounts_and_fabs_own_form(app, world):
    """The fixtures' accounts are not forced; FAB's own-password form sends to the one that asks
    for the current password."""
    community1 = Browser(app, "community1")
    assert community1.get("/partymemberview/list/").status_code == 200
    response = community1.get("/resetmypassword/form")
    assert response.status_code == 302 and response.headers["Location"].endswith("/password/change")
    page = community1.get("/password/change")
    assert page.status_code == 200 and 'name="old_password"' in page.get_data(as_text=True)
