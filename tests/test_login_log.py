"""登录日志 (issue 14): the auditor reads the login entries of the audit log — good and bad logins,
lockouts, logouts, sessions ended and forced logouts — with the device each came from; nobody else
(the system administrator included) opens it, and nobody can change it."""
import json

import pytest
from sqlalchemy import select

from app.extensions import db
from models import AuditLog
from tests.conftest import Browser
from tests.factories import throwaway_account

WHO = "temp_login_logged"
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
LOG = "/login-log/list/"


@pytest.fixture
def logged(app):
    """An account with a good login (from Firefox on Linux), a failed one and a logout."""
    with throwaway_account(app, WHO) as pk:
        browser = Browser(app)
        browser.client.environ_base["HTTP_USER_AGENT"] = FIREFOX_ON_LINUX
        browser.login(WHO, password="wrong-password")
        browser.login(WHO)
        browser.get("/logout/")
        yield pk


def test_login_events_keep_the_user_agent(app, logged):
    with app.app_context():
        found = db.session.execute(select(AuditLog).where(
            AuditLog.summary == WHO, AuditLog.action.in_(("login", "login_failed", "logout")))).scalars().all()
        actions = sorted(entry.action for entry in found)
        agents = {json.loads(entry.changes).get("user_agent") for entry in found}
        session_named = [json.loads(entry.changes).get("session") for entry in found if entry.action == "login"]
        db.session.remove()
    assert actions == ["login", "login_failed", "logout"]
    assert agents == {FIREFOX_ON_LINUX}
    assert session_named and all(session_named)


def test_the_auditor_reads_the_login_log(app, world, logged):
    page = Browser(app, "auditor").get(f"{LOG}?_flt_0_summary={WHO}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("Firefox · Linux") == 3  # the failed login, the login, the logout
    assert "127.0.0.1" in html
    # Not the other entries of the audit log: the world's records were created too.
    assert "幸福社区圆桌会议" not in Browser(app, "auditor").get(LOG).get_data(as_text=True)


def test_the_login_log_filters_on_action(app, world, logged):
    html = Browser(app, "auditor").get(f"{LOG}?_flt_0_summary={WHO}&_flt_0_action=login_failed").get_data(as_text=True)
    assert html.count("Firefox · Linux") == 1


def test_forced_logouts_and_ended_sessions_are_in_the_login_log(app, world, logged):
    target = Browser(app, WHO)
    with target.client.session_transaction() as stored:
        pk = stored["account_session"][0]
    security = Browser(app, "security")
    assert security.post(f"/online-users/force/{pk}", with_token_from="/online-users/").status_code == 302
    with app.app_context():
        entry = db.session.execute(select(AuditLog).where(
            AuditLog.action == "forced_logout", AuditLog.summary == WHO)).scalars().one()
        entry_id = entry.id
        db.session.remove()
    html = Browser(app, "auditor").get(f"/login-log/show/{entry_id}").get_data(as_text=True)
    assert WHO in html and "security" in html


@pytest.mark.parametrize("username", ["admin", "security", "orgdept", "community1"])
def test_only_the_auditor_opens_the_login_log(app, world, username):
    with app.app_context():
        before = db.session.execute(select(AuditLog.id).where(AuditLog.action == "denied")).scalars().all()
        db.session.remove()
    browser = Browser(app, username)
    assert browser.get(LOG).status_code == 403
    with app.app_context():
        after = db.session.execute(select(AuditLog).where(
            AuditLog.action == "denied", AuditLog.id.notin_(before or [0]))).scalars().all()
        actors = [entry.actor for entry in after]
        db.session.remove()
    assert actors == [username]
    assert LOG not in browser.get("/my-sessions/").get_data(as_text=True)  # no menu entry


def test_the_login_log_is_read_only(app, world, logged):
    auditor = Browser(app, "auditor")
    assert auditor.get("/login-log/add").status_code in (302, 403, 404)
    with app.app_context():
        entry_id = db.session.execute(select(AuditLog.id).where(AuditLog.summary == WHO)).scalars().first()
        db.session.remove()
    assert auditor.get(f"/login-log/edit/{entry_id}").status_code in (302, 403, 404)
    assert auditor.client.post(f"/login-log/delete/{entry_id}",
                               data={"csrf_token": auditor.csrf_token("/my-sessions/")}).status_code in (302, 403, 404, 405)
    with app.app_context():
        assert db.session.get(AuditLog, entry_id) is not None
        db.session.remove()
