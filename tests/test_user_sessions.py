"""Sessions kept on the server (issue 14): each screen or API login opens a row; 我的会话 lists a
person's own open sessions and ends one or all the others; 在线用户 lets the security
administrator (and nobody else) end anyone's session (强退); an ended session's cookie or token
is refused from its next request; the last login is told after a screen login."""
import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app.core.actor import acting_as
from app.core.session_registry import device
from app.extensions import db
from models import AuditLog, UserSession
from models.base import utcnow
from tests.conftest import PASSWORD, Browser
from tests.factories import throwaway_account, user

WORKER = "temp_session_owner"
OTHER = "temp_session_other"
CHROME_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Safari/537.36")
MINE = "/my-sessions/"
ONLINE = "/online-users/"


def forget_lock(app, pk):
    """SQLite enforces no foreign key: a removed account's lock would lock the next account given
    its id (the next test's)."""
    from models import LoginGuard

    with app.app_context():
        db.session.query(LoginGuard).filter_by(user_id=pk).delete()
        db.session.commit()
        db.session.remove()


@pytest.fixture
def worker(app):
    with throwaway_account(app, WORKER) as pk:
        yield pk
        forget_lock(app, pk)


@pytest.fixture
def other(app):
    with throwaway_account(app, OTHER) as pk:
        yield pk


def browser_as(app, username, agent=None):
    browser = Browser(app)
    if agent:
        browser.client.environ_base["HTTP_USER_AGENT"] = agent
    browser.login(username)
    return browser


def session_id(browser):
    with browser.client.session_transaction() as stored:
        return stored["account_session"][0]


def signed_in(browser_or_client):
    client = getattr(browser_or_client, "client", browser_or_client)
    return client.get(MINE).status_code == 200


def api_tokens(app, username):
    answer = app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": PASSWORD, "provider": "db", "refresh": True})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["access_token"], answer.json["refresh_token"]


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_works(app, token):
    return app.test_client().get("/api/v1/notification/", headers={"Authorization": f"Bearer {token}"}).status_code


def refreshed(app, refresh_token):
    return app.test_client().post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh_token}"})


def row(app, pk):
    with app.app_context():
        found = db.session.get(UserSession, pk)
        db.session.expunge_all()
        db.session.remove()
    return found


def entries(app, action, summary=None):
    with app.app_context():
        query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        if summary is not None:
            query = query.where(AuditLog.summary == summary)
        found = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        db.session.remove()
    return found


def set_last_seen(app, pk, when):
    with app.app_context():
        db.session.get(UserSession, pk).last_seen_at = when
        db.session.commit()
        db.session.remove()


def test_a_screen_login_opens_a_row_my_sessions_lists_and_marks_this_one(app, worker):
    first = browser_as(app, WORKER, CHROME_ON_WINDOWS)
    second = browser_as(app, WORKER)
    access, _refresh = api_tokens(app, WORKER)
    mine, theirs, token_row = session_id(first), session_id(second), claims(access)["sid"]
    stored = row(app, mine)
    assert stored.user_id == worker and stored.via == "web" and stored.ended_at is None
    assert stored.client_addr == "127.0.0.1" and stored.user_agent == CHROME_ON_WINDOWS
    assert len(stored.key_digest) == 64  # the key itself is only in the cookie
    assert row(app, token_row).via == "api"
    page = first.get(MINE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for pk in (mine, theirs, token_row):
        assert f'data-session="{pk}"' in html
    assert "Chrome · Windows" in html
    assert html.count("gj-this-session") == 1
    this_row = html.split(f'data-session="{mine}"')[1].split("</tr>")[0]
    assert "gj-this-session" in this_row


def test_ending_one_of_my_sessions_signs_that_browser_out(app, worker):
    keeper, ended = browser_as(app, WORKER), browser_as(app, WORKER)
    copy = app.test_client()
    copy.set_cookie("session", ended.client.get_cookie("session").value)  # a stolen copy of it
    pk = session_id(ended)
    answer = keeper.post(f"/my-sessions/end/{pk}", with_token_from=MINE)
    assert answer.status_code == 302
    assert not signed_in(ended) and not signed_in(copy)
    assert signed_in(keeper)
    stored = row(app, pk)
    assert stored.end_reason == "ended_by_owner" and stored.ended_by == WORKER and stored.ended_at is not None
    entry = entries(app, "session_ended", WORKER)[-1]
    assert entry.actor == WORKER and json.loads(entry.changes)["session"] == pk


def test_ending_my_current_session_signs_me_out(app, worker):
    me = browser_as(app, WORKER)
    me.post(f"/my-sessions/end/{session_id(me)}", with_token_from=MINE)
    assert not signed_in(me)


def test_end_all_other_sessions_ends_other_browsers_and_api_tokens(app, worker):
    me, elsewhere = browser_as(app, WORKER), browser_as(app, WORKER)
    access, refresh = api_tokens(app, WORKER)
    ended = sorted([session_id(elsewhere), claims(access)["sid"]])
    assert api_works(app, access) == 200
    assert me.post("/my-sessions/end-others", with_token_from=MINE).status_code == 302
    assert signed_in(me)
    assert not signed_in(elsewhere)
    assert api_works(app, access) == 401
    assert refreshed(app, refresh).status_code == 401
    entry = entries(app, "session_ended", WORKER)[-1]
    assert sorted(json.loads(entry.changes)["sessions"]) == ended


def test_ending_someone_elses_session_from_my_sessions_answers_404(app, worker, other):
    victim = browser_as(app, OTHER)
    access, _refresh = api_tokens(app, OTHER)
    attacker = browser_as(app, WORKER)
    for pk in (session_id(victim), claims(access)["sid"], 999999):
        assert attacker.post(f"/my-sessions/end/{pk}", with_token_from=MINE).status_code == 404
    assert signed_in(victim) and api_works(app, access) == 200
    assert row(app, session_id(victim)).ended_at is None
    assert OTHER not in attacker.get(MINE).get_data(as_text=True)  # not even listed


def test_ending_a_session_needs_the_csrf_token(app, worker):
    me, elsewhere = browser_as(app, WORKER), browser_as(app, WORKER)
    assert me.client.post(f"/my-sessions/end/{session_id(elsewhere)}").status_code == 400
    assert me.client.post("/my-sessions/end-others").status_code == 400
    assert signed_in(elsewhere)


def test_the_security_admin_forces_a_logout(app, worker):
    target = browser_as(app, WORKER, CHROME_ON_WINDOWS)
    access, refresh = api_tokens(app, WORKER)
    security = browser_as(app, "security")
    before = len(entries(app, "forced_logout", WORKER))
    html = security.get(ONLINE).get_data(as_text=True)
    pk, token_pk = session_id(target), claims(access)["sid"]
    assert f'data-session="{pk}"' in html and f'data-session="{token_pk}"' in html
    assert WORKER in html and "Chrome · Windows" in html and "confirm(" in html
    for ended in (pk, token_pk):
        assert security.post(f"/online-users/force/{ended}", with_token_from=ONLINE).status_code == 302
    assert not signed_in(target)
    assert api_works(app, access) == 401 and refreshed(app, refresh).status_code == 401
    stored = row(app, pk)
    assert stored.end_reason == "forced" and stored.ended_by == "security"
    forced = entries(app, "forced_logout", WORKER)[before:]
    assert [e.actor for e in forced] == ["security", "security"]
    assert json.loads(forced[0].changes)["session"] == pk
    assert f'data-session="{pk}"' not in security.get(ONLINE).get_data(as_text=True)
    # An ended session cannot be ended again (nor a missing one): 404.
    assert security.post(f"/online-users/force/{pk}", with_token_from=ONLINE).status_code == 404
    assert security.post("/online-users/force/999999", with_token_from=ONLINE).status_code == 404


@pytest.mark.parametrize("username", ["admin", "auditor", "orgdept", "community1"])
def test_only_the_security_admin_sees_online_users_or_forces_a_logout(app, worker, username):
    target = browser_as(app, WORKER)
    pk = session_id(target)
    intruder = browser_as(app, username)
    before, forced = len(entries(app, "denied")), len(entries(app, "forced_logout", WORKER))
    assert intruder.get(ONLINE).status_code == 403
    token = intruder.csrf_token(MINE)
    assert intruder.client.post(f"/online-users/force/{pk}", data={"csrf_token": token}).status_code == 403
    assert signed_in(target) and row(app, pk).ended_at is None
    denied = entries(app, "denied")[before:]
    assert [e.actor for e in denied] == [username, username]
    assert len(entries(app, "forced_logout", WORKER)) == forced
    assert "/online-users/" not in intruder.get(MINE).get_data(as_text=True)  # no menu entry either


def test_account_changes_lockout_and_logout_end_the_rows_with_their_reason(app, worker):
    by_logout = browser_as(app, WORKER)
    pk = session_id(by_logout)
    _access, _refresh = api_tokens(app, WORKER)
    by_logout.get("/logout/")
    assert row(app, pk).end_reason == "logout" and row(app, pk).ended_by == WORKER
    changed = browser_as(app, WORKER)
    with app.app_context(), acting_as(None, via="cli"):
        user(app, WORKER).active = False
        db.session.commit()
        db.session.remove()
    assert row(app, session_id(changed)).end_reason == "account_change"
    with app.app_context(), acting_as(None, via="cli"):
        user(app, WORKER).active = True
        db.session.commit()
        db.session.remove()
    locked = browser_as(app, WORKER)
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        Browser(app).login(WORKER, password="wrong")
    assert row(app, session_id(locked)).end_reason == "lockout"
    assert not signed_in(locked)


def test_a_refresh_keeps_the_tokens_session_and_a_new_login_opens_another(app, worker):
    access, refresh = api_tokens(app, WORKER)
    again = refreshed(app, refresh)
    assert again.status_code == 200
    assert claims(again.json["access_token"])["sid"] == claims(access)["sid"] == claims(refresh)["sid"]
    second, _refresh = api_tokens(app, WORKER)
    assert claims(second)["sid"] != claims(access)["sid"]


def test_a_token_without_a_session_or_of_another_account_is_refused(app, worker, other):
    from flask_jwt_extended import create_access_token

    access, _refresh = api_tokens(app, WORKER)
    theirs, _refresh = api_tokens(app, OTHER)
    with app.test_request_context():
        # Signed with the right key but naming another account's session row, or none.
        forged = create_access_token(identity=str(worker), additional_claims={"sid": claims(theirs)["sid"]})
        bare = create_access_token(identity=str(worker), additional_claims={"sid": None})
    assert api_works(app, access) == 200
    assert api_works(app, forged) == 401
    assert api_works(app, bare) == 401


def test_last_seen_is_written_at_most_once_a_minute(app, worker):
    me = browser_as(app, WORKER)
    pk = session_id(me)
    recent = utcnow() - timedelta(seconds=30)
    set_last_seen(app, pk, recent)
    assert signed_in(me)
    assert row(app, pk).last_seen_at == recent
    set_last_seen(app, pk, utcnow() - timedelta(minutes=2))
    assert signed_in(me)
    assert utcnow() - row(app, pk).last_seen_at < timedelta(seconds=30)


def test_the_session_check_is_one_query_per_request(app, worker):
    me = browser_as(app, WORKER)
    me.get(MINE)  # last_seen_at was just written: no write in the request below
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if "user_session" in statement or "account_epoch" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert me.get("/notificationview/list/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(seen) == 1, seen


def test_an_idle_session_expires_and_leaves_the_lists(app, worker):
    me, idle = browser_as(app, WORKER), browser_as(app, WORKER)
    pk = session_id(idle)
    set_last_seen(app, pk, utcnow() - app.config["PERMANENT_SESSION_LIFETIME"] - timedelta(minutes=5))
    assert f'data-session="{pk}"' not in me.get(MINE).get_data(as_text=True)
    assert row(app, pk).end_reason == "expired"
    assert not signed_in(idle)


def test_the_last_login_is_told_after_a_screen_login(app, worker):
    def flashes(browser):
        with browser.client.session_transaction() as stored:
            return [message for category, message in stored.get("_flashes", []) if category == "info"]

    first = Browser(app)
    first.login(WORKER)
    [said_first] = flashes(first)
    assert "127.0.0.1" not in said_first
    earlier = row(app, session_id(first))
    second = Browser(app)
    second.login(WORKER)
    [said] = flashes(second)
    from flask_babel import to_user_timezone

    with app.test_request_context():
        when = to_user_timezone(earlier.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert when in said and "127.0.0.1" in said


def test_a_device_in_plain_words():
    assert device(CHROME_ON_WINDOWS) == "Chrome · Windows"
    assert device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1") == "Safari · iOS"
    assert device("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0") == "Edge · Windows"
    assert device("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0") == "Firefox · Linux"
    assert device("curl/8.5.0") == "curl"
    assert device(None) == "" and device("") == ""
