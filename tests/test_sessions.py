"""Sessions that end (issue 14): a screen session or API token stops working when the account's
sessions are ended — logout, lockout, a new password, other roles or area, deactivation — not when
it would have expired (app/core/sessions.py); the API login is throttled like the login form."""
import time
from datetime import UTC, datetime

import pytest

from app.core.actor import acting_as
from app.extensions import db
from tests.conftest import PASSWORD, Browser, make_app
from tests.factories import throwaway_account, user

WORKER = "temp_session_worker"
LIST = "/partymemberview/list/"


def api_login(app, username, password=PASSWORD, refresh=False):
    return app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "refresh": refresh})


def tokens(app, username):
    answer = api_login(app, username, refresh=True)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["access_token"], answer.json["refresh_token"]


def api_get(app, token, url="/api/v1/party_member/"):
    return app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})


def refreshed(app, refresh_token):
    return app.test_client().post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh_token}"})


def opens_the_list(client):
    response = client.get(LIST)
    return response.status_code == 200 and "/login" not in response.request.path


def cookie_copy(app, browser):
    """Another client holding a copy of ``browser``'s session cookie (as a thief would)."""
    copy = app.test_client()
    copy.set_cookie("session", browser.client.get_cookie("session").value)
    return copy


@pytest.fixture
def worker(app, world):
    with throwaway_account(app, WORKER) as pk:
        with app.app_context():
            with acting_as(None, via="test"):
                from models import UserScope

                db.session.add(UserScope(user_id=pk, area_id=world["c1"]))
                db.session.commit()
            db.session.remove()
        yield pk


def test_after_logout_a_copy_of_the_session_cookie_opens_nothing(app, worker):
    browser = Browser(app, WORKER)
    assert opens_the_list(browser.client)
    copy = cookie_copy(app, browser)
    assert opens_the_list(copy)
    browser.get("/logout/")
    assert not opens_the_list(copy)
    assert not opens_the_list(browser.client)


def test_logout_ends_the_accounts_api_tokens(app, worker):
    access, refresh = tokens(app, WORKER)
    assert api_get(app, access).status_code == 200
    Browser(app, WORKER).get("/logout/")
    assert api_get(app, access).status_code == 401
    assert refreshed(app, refresh).status_code == 401
    access, _refresh = tokens(app, WORKER)  # a new login works
    assert api_get(app, access).status_code == 200


@pytest.mark.parametrize("change", ["password", "roles", "area", "deactivated"])
def test_an_account_change_ends_its_sessions_and_tokens(app, world, worker, change):
    access, refresh = tokens(app, WORKER)
    browser = Browser(app, WORKER)
    assert api_get(app, access).status_code == 200 and opens_the_list(browser.client)
    with app.app_context():
        with acting_as(None, via="cli"):
            account = user(app, WORKER)
            if change == "password":
                app.appbuilder.sm.reset_password(account.id, "Another-Passw0rd!")
            elif change == "roles":
                account.roles = [app.appbuilder.sm.find_role("StreetAdmin")]
            elif change == "area":
                from models import UserScope

                db.session.query(UserScope).filter_by(user_id=account.id).one().area_id = world["c2"]
            else:
                account.active = False
            db.session.commit()
        db.session.remove()
    assert api_get(app, access).status_code == 401
    assert refreshed(app, refresh).status_code == 401
    assert not opens_the_list(browser.client)


def test_a_lockout_ends_the_accounts_tokens_and_sessions(app, worker):
    access, refresh = tokens(app, WORKER)
    browser = Browser(app, WORKER)
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        assert api_login(app, WORKER, password="wrong").status_code == 401
    assert api_login(app, WORKER).status_code == 401  # locked: the right password too
    assert api_get(app, access).status_code == 401
    assert refreshed(app, refresh).status_code == 401
    assert not opens_the_list(browser.client)


def test_what_does_not_end_a_session(app, world, worker):
    """A refresh, another login, or a change of the account's name keeps existing sessions."""
    access, refresh = tokens(app, WORKER)
    browser = Browser(app, WORKER)
    assert refreshed(app, refresh).status_code == 200
    Browser(app, WORKER)  # logged in elsewhere too
    with app.app_context():
        with acting_as(None, via="cli"):
            user(app, WORKER).first_name = "新名"
            db.session.commit()
        db.session.remove()
    assert api_get(app, access).status_code == 200
    assert opens_the_list(browser.client)


def test_tokens_live_minutes_and_refresh_tokens_a_working_day(app):
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() <= 30 * 60
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds() <= 24 * 3600


def test_the_api_login_is_throttled_per_address_like_the_form(world, tmp_path, app):
    import time_machine

    throttled = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_ENABLED=True,
                         AUTH_RATE_LIMIT="3 per minute")
    standstill = datetime.fromtimestamp((time.time() // 60 + 1) * 60 + 5, UTC)  # no minute straddled
    with time_machine.travel(standstill, tick=False):
        codes = [api_login(throttled, "nobody-here", password="x").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
