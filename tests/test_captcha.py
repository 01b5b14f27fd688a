"""The login captcha (issue 14, login hardening): after repeated failed logins from one address or
for one user name, the login form and the API login ask for the characters of an image, checked
before the password; a challenge is answered once, within five minutes, by the browser (or API
client) it was given to. The captcha is off in the testing environment (like the login throttle):
these tests switch it on, with GONGJIAN_TESTING_CAPTCHA making each answer predictable."""
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.core import captcha
from app.extensions import db
from tests.conftest import PASSWORD, Browser

ADDR = "10.1.2.3"
RIGHT = object()


@pytest.fixture
def captcha_on(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "CAPTCHA_ENABLED", True)
    monkeypatch.setitem(app.config, "GONGJIAN_TESTING_CAPTCHA", True)
    return app


def client(app, addr=ADDR):
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = addr
    return test_client


def api_login(test_client, username, password=PASSWORD, **extra):
    return test_client.post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", **extra})


def fail(app, username, times=3, addr=ADDR):
    for _ in range(times):
        assert api_login(client(app, addr), username, "wrong-password").status_code == 401


def new_captcha(app, addr=ADDR):
    answer = client(app, addr).get("/api/v1/security/captcha")
    assert answer.status_code == 200
    return answer.json["captcha_id"], answer.json["image"]


def answer_of(app, captcha_id):
    with app.app_context():
        return captcha.testing_answer(captcha_id)


def entries(app, action):
    from models import AuditLog

    with app.app_context():
        count = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == action)).scalar_one()
        db.session.remove()
        return count


def login_page(browser):
    return browser.client.get("/login/").get_data(as_text=True)


def session_captcha(browser):
    with browser.client.session_transaction() as stored:
        return stored.get("gongjian_captcha")


def browser_at(app, addr=ADDR):
    browser = Browser(app)
    browser.client.environ_base["REMOTE_ADDR"] = addr
    return browser


def post_login(browser, username, password=PASSWORD, answer=None):
    """The login form as a person fills it: open it, then send it. ``answer``: what is typed into
    the captcha box (``RIGHT``: the answer of the image shown)."""
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page(browser)).group(1)
    data = {"username": username, "password": password, "csrf_token": token}
    if answer is not None:
        data["captcha"] = answer_of(browser.app, session_captcha(browser)) if answer == RIGHT else answer
    return browser.client.post("/login/", data=data)


def signed_in(browser):
    response = browser.client.get("/partymemberview/list/")
    return response.status_code == 200 and "/login" not in response.request.path


# ---- the API ---------------------------------------------------------------------------------------

def test_the_api_asks_for_a_captcha_after_three_failures_for_a_user_name(captcha_on):
    app = captcha_on
    fail(app, "community1", times=2)
    assert api_login(client(app, "10.9.9.9"), "community1").status_code == 200  # under the threshold
    fail(app, "community2", addr="10.2.2.2")
    refused = api_login(client(app, "10.9.9.9"), "community2")  # the right password, another address
    assert refused.status_code == 400 and list(refused.json["message"]) == ["captcha"]
    assert refused.json["captcha_url"].endswith("/api/v1/security/captcha")
    captcha_id, image = new_captcha(app)
    assert image.startswith("data:image/png;base64,")
    answer = answer_of(app, captcha_id)
    # The right answer lets the password be checked (here a wrong one) and uses the challenge up:
    # replaying it fails, even with the right password.
    assert api_login(client(app), "community2", "wrong-password", captcha_id=captcha_id,
                     captcha=answer).status_code == 401
    replay = api_login(client(app), "community2", captcha_id=captcha_id, captcha=answer)
    assert replay.status_code == 400 and list(replay.json["message"]) == ["captcha"]
    captcha_id, _image = new_captcha(app)
    tokens = api_login(client(app), "community2", captcha_id=captcha_id, captcha=answer_of(app, captcha_id).lower())
    assert tokens.status_code == 200 and tokens.json["access_token"]


def test_the_api_captcha_is_checked_before_the_password_and_a_wrong_one_is_a_failure(captcha_on):
    app = captcha_on
    fail(app, "street1")
    failed_logins = entries(app, "login_failed")
    captcha_id, _image = new_captcha(app)
    wrong = api_login(client(app), "street1", captcha_id=captcha_id, captcha="WRONG")
    assert wrong.status_code == 400 and list(wrong.json["message"]) == ["captcha"]
    assert entries(app, "captcha_failed") == 1
    assert entries(app, "login_failed") == failed_logins  # the password was not even checked
    # The right answer to a challenge that is no longer there, or to none at all, fails too.
    for extra in ({"captcha_id": captcha_id, "captcha": answer_of(app, captcha_id)}, {"captcha": "ABCDE"},
                  {"captcha_id": "x" * 500, "captcha": "ABCDE"}, {"captcha_id": 12, "captcha": None}):
        assert api_login(client(app), "street1", **extra).status_code == 400


def test_an_expired_captcha_is_refused(captcha_on):
    app = captcha_on
    fail(app, "liaison1")
    captcha_id, _image = new_captcha(app)
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6), tick=True):
        late = api_login(client(app), "liaison1", captcha_id=captcha_id, captcha=answer_of(app, captcha_id))
    assert late.status_code == 400 and list(late.json["message"]) == ["captcha"]


def test_failures_from_one_address_ask_every_user_name_there_for_a_captcha(captcha_on):
    app = captcha_on
    for name in ("nobody-1", "nobody-2", "nobody-3"):
        fail(app, name, times=1, addr="10.7.7.7")
    assert api_login(client(app, "10.7.7.7"), "orgdept").status_code == 400
    assert api_login(client(app, "10.7.7.8"), "orgdept").status_code == 200


def test_the_password_change_api_asks_for_the_captcha_too(captcha_on):
    app = captcha_on
    fail(app, "auditor")
    answer = client(app).post("/api/v1/security/password", json={
        "username": "auditor", "old_password": PASSWORD, "new_password": "Never-Applied-2026!"})
    assert answer.status_code == 400 and list(answer.json["message"]) == ["captcha"]


def test_no_captcha_when_it_is_off(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "CAPTCHA_ENABLED", False)
    fail(app, "community1", times=4)
    assert api_login(client(app), "community1").status_code == 200


def test_answers_are_predictable_only_in_tests(captcha_on, monkeypatch):
    app = captcha_on
    with app.app_context():
        captcha_id, _image = captcha.issue()
        assert captcha.testing_answer(captcha_id) == captcha.testing_answer(captcha_id)
        monkeypatch.setattr(app, "testing", False)
        with pytest.raises(RuntimeError):
            captcha.testing_answer(captcha_id)
        other_id, _image = captcha.issue()  # a random answer: the test's formula does not fit
        monkeypatch.setattr(app, "testing", True)
        assert not captcha.verify(other_id, captcha.testing_answer(other_id))
        db.session.remove()


# ---- the login form --------------------------------------------------------------------------------

def test_the_login_form_shows_a_captcha_after_three_failures_and_checks_it_first(captcha_on):
    app = captcha_on
    browser = browser_at(app)
    assert "captcha-image" not in login_page(browser)
    for _ in range(3):
        post_login(browser, "community1", "wrong-password")
    page = login_page(browser)
    assert 'id="captcha-image" src="data:image/png;base64,' in page
    failed_logins = entries(app, "login_failed")
    post_login(browser, "community1")  # the right password, the image shown and not answered
    assert not signed_in(browser)
    post_login(browser, "community1", answer="WRONG")  # the right password, a wrong answer
    assert not signed_in(browser)
    # The password was not even checked; both count as failures.
    assert entries(app, "login_failed") == failed_logins and entries(app, "captcha_failed") == 2
    post_login(browser, "community1", answer=RIGHT)
    assert signed_in(browser)


def test_a_captcha_answer_from_another_browser_does_not_fit(captcha_on):
    app = captcha_on
    fail(app, "community2")
    first, second = browser_at(app), browser_at(app)
    login_page(first)
    stolen = answer_of(app, session_captcha(first))
    login_page(second)
    post_login(second, "community2", answer=stolen)
    assert not signed_in(second)


def test_a_login_form_challenge_is_answered_once_even_with_an_old_cookie(captcha_on):
    """The session cookie names the challenge; the answer is kept on the server and the challenge
    is gone after its first answer, so replaying the cookie of an answered challenge fails."""
    app = captcha_on
    fail(app, "community2")
    browser = browser_at(app)
    page = login_page(browser)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    cookie, answer = browser.client.get_cookie("session").value, answer_of(app, session_captcha(browser))
    browser.client.post("/login/", data={"username": "community2", "password": "wrong-password",
                                         "captcha": "WRONG", "csrf_token": token})
    replay = browser_at(app)
    replay.client.set_cookie("session", cookie)
    replay.client.post("/login/", data={"username": "community2", "password": PASSWORD, "captcha": answer,
                                        "csrf_token": token})
    assert not signed_in(replay)
