"""Two-factor authentication (issue 14): TOTP codes with enrolment by a QR code drawn on the server,
recovery codes, required per role by the setting ``two_factor_roles``; the screen login asks for
the code after the password (the login completes only then), the API login takes ``totp``; a wrong
code is audited and counts toward the lockout; a code is never accepted twice. The fixtures'
apps enforce no role (``TWO_FACTOR_ENFORCED`` false, like the forced password change they skip):
the tests that need it turn it on."""
import re
import time

import pyotp
import pytest
from sqlalchemy import func, select

from app.core.actor import acting_as
from app.extensions import db
from tests.conftest import PASSWORD, Browser
from tests.factories import throwaway_account, user

WORKER = "temp_2fa_worker"
CHIEF = "temp_2fa_auditor"
NEW_PASSWORD = "Second-Factor-2026!"


def zh(app, message, **params):
    with app.test_request_context("/"):
        from flask_babel import gettext

        return gettext(message, **params)


def text_of(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def code(secret, steps_ahead=0):
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def api_login(app, username, password=PASSWORD, **extra):
    return app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", **extra})


def audit_count(app, action, summary):
    from models import AuditLog

    with app.app_context():
        count = db.session.execute(select(func.count(AuditLog.id)).where(
            AuditLog.action == action, AuditLog.summary == summary)).scalar_one()
        db.session.remove()
        return count


def second_factor(app, username):
    """(secret, confirmed, last step used) of the account's second factor, or None; the secret
    as the server decrypts it."""
    from app.core.two_factor import _open
    from models import TwoFactor

    with app.app_context():
        row = db.session.get(TwoFactor, user(app, username).id)
        found = None if row is None else (_open(row.secret), row.confirmed_at is not None, row.last_used_step)
        db.session.remove()
        return found


def enrol(app, username):
    """Enrol the account directly (app/core/two_factor.py); its secret and recovery codes. The
    step used to confirm is forgotten, so the test's first code of now is accepted."""
    from app.core import two_factor
    from models import TwoFactor

    with app.test_request_context("/"):
        account = user(app, username)
        secret, _uri = two_factor.begin_enrolment(account)
        codes = two_factor.confirm_enrolment(account, code(secret))
        db.session.get(TwoFactor, account.id).last_used_step = None
        db.session.commit()
        db.session.remove()
    return secret, codes


def set_setting(app, key, value):
    from models import Setting

    with app.app_context(), acting_as(None, via="test"):
        row = db.session.execute(select(Setting).where(Setting.key == key)).scalar_one()
        before, row.value = row.value, value
        db.session.commit()
        db.session.remove()
    return before


@pytest.fixture
def enforced(app, monkeypatch):
    """The roles of the setting (shipped: Admin, SecurityAdmin, Auditor, OrgDept) must enrol."""
    monkeypatch.setitem(app.config, "TWO_FACTOR_ENFORCED", True)
    return app


@pytest.fixture
def worker(app, world):
    with throwaway_account(app, WORKER) as pk:
        yield pk


@pytest.fixture
def chief(app, world):
    """A throwaway auditor: a privileged account."""
    with throwaway_account(app, CHIEF, role="Auditor") as pk:
        yield pk


def login_with_code(app, username, second, password=PASSWORD):
    """A screen login: the password, then ``second`` on the code form; the browser and the answer."""
    browser = Browser(app)
    first = browser.login(username, password)
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/2fa"), first.headers
    return browser, browser.submit("/login/2fa", {"code": second})


def signed_in(browser):
    return browser.get("/partymemberview/list/").status_code == 200


# ---- enrolment and the screen login ---------------------------------------------------------------

def test_enrolment_on_the_screen_then_the_login_asks_for_the_code(app, worker):
    browser = Browser(app, WORKER)
    assert zh(app, "Two-factor authentication is not set up.") in text_of(browser.get("/2fa/"))
    page = browser.get("/2fa/enrol")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "cdn" not in html.lower()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', html).group(1)
    assert second_factor(app, WORKER) == (secret, False, None)
    assert browser.get("/2fa/enrol").get_data(as_text=True).count(secret) == 1  # a reload: the same secret
    wrong = browser.submit("/2fa/enrol", {"code": "000000" if code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and second_factor(app, WORKER)[1] is False
    done = browser.submit("/2fa/enrol", {"code": code(secret)})
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(set(codes)) == 10
    assert second_factor(app, WORKER)[1] is True
    assert audit_count(app, "2fa_enrolled", WORKER) == 1
    assert "%d" not in text_of(browser.get("/2fa/")) and "10" in text_of(browser.get("/2fa/"))

    logins = audit_count(app, "login", WORKER)
    person = Browser(app)
    answer = person.login(WORKER)
    assert answer.headers["Location"].endswith("/login/2fa")
    assert not signed_in(person)  # the password alone logs no one in
    assert audit_count(app, "login", WORKER) == logins  # nor writes the login entry
    finished = person.submit("/login/2fa", {"code": code(secret, 1)})  # the step after the enrolment's
    assert finished.status_code == 302 and "/login" not in finished.headers["Location"]
    assert signed_in(person)
    assert audit_count(app, "login", WORKER) == logins + 1
    with person.client.session_transaction() as stored:
        assert stored.get("account_session") and "gongjian_2fa_pending" not in stored


def test_a_wrong_code_is_audited_and_counts_toward_the_lockout(app, worker):
    secret, _codes = enrol(app, WORKER)
    bad = "000000" if code(secret) != "000000" else "111111"
    first, answer = login_with_code(app, WORKER, bad)
    assert answer.status_code == 200 and not signed_in(first)
    assert zh(app, "The code is wrong, expired or already used: enter the current code of your authenticator app, "
                   "or an unused recovery code") in text_of(answer)
    first.submit("/login/2fa", {"code": bad})
    # A right password in between forgives nothing: the failures are the account's.
    second, _answer = login_with_code(app, WORKER, bad)
    second.submit("/login/2fa", {"code": bad})
    locked = second.submit("/login/2fa", {"code": bad})  # the fifth
    assert locked.status_code == 302 and "/login" in locked.headers["Location"]
    assert audit_count(app, "2fa_failed", WORKER) == 5
    assert audit_count(app, "lockout", WORKER) == 1
    assert "/login/2fa" not in Browser(app).login(WORKER).headers["Location"]  # locked: no code form
    assert api_login(app, WORKER, totp=code(secret)).status_code == 401
    assert audit_count(app, "login", WORKER) == 0


def test_a_code_is_not_accepted_twice_and_a_recovery_code_works_once(app, worker):
    secret, codes = enrol(app, WORKER)
    now = code(secret)
    assert api_login(app, WORKER, totp=now).status_code == 200
    replay = api_login(app, WORKER, totp=now)
    assert replay.status_code == 401 and list(replay.json["message"]) == ["totp"]
    assert audit_count(app, "2fa_failed", WORKER) == 1
    browser, answer = login_with_code(app, WORKER, now)
    assert answer.status_code == 200 and not signed_in(browser)
    browser, answer = login_with_code(app, WORKER, codes[0].upper())  # as typed, in capitals
    assert answer.status_code == 302 and signed_in(browser)
    assert audit_count(app, "2fa_recovery_used", WORKER) == 1
    assert api_login(app, WORKER, totp=codes[0]).status_code == 401
    assert api_login(app, WORKER, totp=codes[1].replace("-", " ")).status_code == 200


def test_the_code_form_waits_five_minutes(app, worker):
    enrol(app, WORKER)
    browser = Browser(app)
    browser.login(WORKER)
    with browser.client.session_transaction() as stored:
        stored["gongjian_2fa_pending"][1] -= 301
        stored.modified = True
    late = browser.client.get("/login/2fa")
    assert late.status_code == 302 and "/login/" in late.headers["Location"]
    assert Browser(app).get("/login/2fa").status_code == 302  # nothing pending: back to the password
    assert not signed_in(browser) and second_factor(app, WORKER)[2] is None


# ---- the API --------------------------------------------------------------------------------------

def test_the_api_login_asks_for_totp(app, worker):
    secret, _codes = enrol(app, WORKER)
    missing = api_login(app, WORKER)
    assert missing.status_code == 401 and missing.json["message"] == {"totp": [zh(app, "A second-factor code is needed")]}
    assert "access_token" not in missing.json and audit_count(app, "2fa_failed", WORKER) == 0
    assert api_login(app, WORKER, totp="").status_code == 401
    for bad in (123456, ["123456"], "x" * 40):
        refused = api_login(app, WORKER, totp=bad)
        assert refused.status_code == 400 and list(refused.json["message"]) == ["totp"], bad
    wrong = api_login(app, WORKER, totp="000000" if code(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and list(wrong.json["message"]) == ["totp"]
    assert audit_count(app, "2fa_failed", WORKER) == 1
    assert api_login(app, WORKER, "wrong-Passw0rd!", totp=code(secret)).status_code == 401
    assert audit_count(app, "login", WORKER) == 0
    right = api_login(app, WORKER, totp=code(secret), refresh=True)
    assert right.status_code == 200 and right.json["access_token"] and right.json["refresh_token"]
    assert audit_count(app, "login", WORKER) == 1
    bearer = {"Authorization": f"Bearer {right.json['access_token']}"}
    assert app.test_client().get("/api/v1/unit/", headers=bearer).status_code == 200
    spec = app.test_client().get("/api/v1/_openapi", headers=bearer).json
    login = spec["paths"]["/api/v1/security/login"]["post"]
    assert "totp" in login["requestBody"]["content"]["application/json"]["schema"]["properties"]


# ---- required per role ----------------------------------------------------------------------------

def test_a_privileged_account_must_enrol_before_anything_else(enforced, chief):
    app = enforced
    refused = api_login(app, CHIEF)
    assert refused.status_code == 403 and list(refused.json["message"]) == ["totp"]
    assert "access_token" not in refused.json
    browser = Browser(app, CHIEF)
    for url in ("/", "/auditlogview/list/", "/my-sessions/", "/2fa/"):
        response = browser.get(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/2fa/enrol"), url
    page = browser.get("/2fa/enrol")
    assert zh(app, "Your role requires two-factor authentication: set it up before you go on") in text_of(page)
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', page.get_data(as_text=True)).group(1)
    assert browser.submit("/2fa/enrol", {"code": code(secret)}).status_code == 200
    assert browser.get("/auditlogview/list/").status_code == 200
    # It cannot be turned off while the role requires it.
    browser.post("/2fa/disable", {"code": code(secret, 1)}, with_token_from="/2fa/")
    assert second_factor(app, CHIEF)[1] is True
    assert api_login(app, CHIEF).status_code == 401
    assert api_login(app, CHIEF, totp=code(secret, 1)).status_code == 200


def test_the_password_change_comes_before_the_enrolment(enforced, chief):
    from app.core.passwords import set_must_change

    app = enforced
    with app.app_context():
        set_must_change(chief, True)
        db.session.commit()
        db.session.remove()
    browser = Browser(app, CHIEF)
    for url in ("/", "/2fa/enrol"):
        assert browser.get(url).headers["Location"].endswith("/password/change"), url
    assert api_login(app, CHIEF).status_code == 403  # the password first
    assert list(api_login(app, CHIEF).json["message"]) == ["password"]
    browser.submit("/password/change", {"old_password": PASSWORD, "password": NEW_PASSWORD,
                                        "conf_password": NEW_PASSWORD})
    again = Browser(app)
    again.login(CHIEF, NEW_PASSWORD)
    assert again.get("/").headers["Location"].endswith("/2fa/enrol")


def test_the_setting_names_the_roles(enforced, worker):
    app = enforced
    assert Browser(app, WORKER).get("/partymemberview/list/").status_code == 200
    before = set_setting(app, "two_factor_roles", " CommunityAdmin ,Auditor")
    try:
        assert Browser(app, WORKER).get("/partymemberview/list/").headers["Location"].endswith("/2fa/enrol")
        assert api_login(app, WORKER).status_code == 403
        set_setting(app, "two_factor_roles", "")
        assert Browser(app, WORKER).get("/partymemberview/list/").status_code == 200
    finally:
        set_setting(app, "two_factor_roles", before)


# ---- my page ---------------------------------------------------------------------------------------

def test_new_recovery_codes_and_turning_it_off(enforced, worker):
    app = enforced
    secret, old_codes = enrol(app, WORKER)
    browser, _answer = login_with_code(app, WORKER, old_codes[0])
    refused = browser.post("/2fa/recovery-codes", {"code": "12"}, with_token_from="/2fa/")
    assert refused.status_code == 302 and audit_count(app, "2fa_failed", WORKER) == 1
    page = browser.post("/2fa/recovery-codes", {"code": code(secret)}, with_token_from="/2fa/")
    new_codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", page.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert audit_count(app, "2fa_recovery_codes", WORKER) == 1
    assert api_login(app, WORKER, totp=old_codes[1]).status_code == 401
    before = set_setting(app, "two_factor_roles", "CommunityAdmin")
    try:
        browser.post("/2fa/disable", {"code": new_codes[0]}, with_token_from="/2fa/")
        assert second_factor(app, WORKER)[1] is True  # the role requires it
    finally:
        set_setting(app, "two_factor_roles", before)
    browser.post("/2fa/disable", {"code": new_codes[1]}, with_token_from="/2fa/")
    assert second_factor(app, WORKER) is None and audit_count(app, "2fa_disabled", WORKER) == 1
    assert api_login(app, WORKER).status_code == 200


# ---- resets ----------------------------------------------------------------------------------------

def test_the_security_admin_resets_a_business_account_only(app, worker, chief):
    from models import RecoveryCode, TwoFactor

    enrol(app, WORKER)
    enrol(app, CHIEF)
    security = Browser(app, "security")
    listing = security.get("/two-factor-accounts/")
    assert listing.status_code == 200 and WORKER in text_of(listing) and CHIEF in text_of(listing)
    security.post(f"/two-factor-accounts/reset/{chief}", with_token_from="/two-factor-accounts/")
    assert second_factor(app, CHIEF)[1] is True
    assert audit_count(app, "2fa_reset", CHIEF) == 0 and audit_count(app, "denied", CHIEF) == 0
    assert audit_count(app, "denied", zh(app, "The account of a system administrator, security administrator or auditor "
                                              "is changed, reset or removed on the command line only")) == 1
    assert security.post("/two-factor-accounts/reset/999999",
                         with_token_from="/two-factor-accounts/").status_code == 404
    security.post(f"/two-factor-accounts/reset/{worker}", with_token_from="/two-factor-accounts/")
    assert second_factor(app, WORKER) is None and audit_count(app, "2fa_reset", WORKER) == 1
    assert api_login(app, WORKER).status_code == 200
    # Nobody else may reset one.
    other = Browser(app, "admin")
    assert other.get("/two-factor-accounts/").status_code in (302, 403)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == worker)).scalar_one() == 0
        assert db.session.get(TwoFactor, chief) is not None
        db.session.remove()


def test_the_command_line_resets_any_account_and_the_rows_go_with_the_account(app, chief):
    from models import AuditLog, RecoveryCode, TwoFactor

    secret, _codes = enrol(app, CHIEF)
    result = app.test_cli_runner().invoke(args=["gongjian", "reset-2fa", "--username", CHIEF])
    assert result.exit_code == 0, result.output
    assert second_factor(app, CHIEF) is None
    with app.app_context():
        entry = db.session.execute(select(AuditLog).where(AuditLog.action == "2fa_reset",
                                                          AuditLog.summary == CHIEF)).scalar_one()
        assert entry.via == "cli"
        # The secret never reaches the audit log.
        assert db.session.execute(select(func.count(AuditLog.id)).where(
            AuditLog.changes.contains(secret))).scalar_one() == 0
        db.session.remove()
    assert app.test_cli_runner().invoke(args=["gongjian", "reset-2fa", "--username", "nobody-here"]).exit_code != 0
    enrol(app, CHIEF)
    with app.app_context(), acting_as(None, via="test"):
        db.session.delete(user(app, CHIEF))
        db.session.commit()
        assert db.session.get(TwoFactor, chief) is None
        assert db.session.execute(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == chief)).scalar_one() == 0
        db.session.remove()


def test_the_secret_is_encrypted_at_rest_and_void_under_another_key(app, worker):
    """A copy of the database does not give the codes: the stored secret is not the secret, and
    under another key (SECRET_KEY or TWO_FACTOR_KEY changed) no code fits."""
    from models import TwoFactor

    secret, _codes = enrol(app, WORKER)
    with app.app_context():
        stored = db.session.get(TwoFactor, user(app, WORKER).id).secret
        db.session.remove()
    assert secret not in stored and len(stored) > 100
    assert api_login(app, WORKER, totp=code(secret, 1)).status_code == 200
    app.config["TWO_FACTOR_KEY"] = "another key altogether, as after a careless rotation"
    try:
        assert api_login(app, WORKER, totp=code(secret, 2)).status_code == 401
    finally:
        app.config["TWO_FACTOR_KEY"] = None


def test_the_password_change_api_asks_an_enrolled_account_for_its_second_factor(app, worker):
    """The password alone does not change the password of an account with a second factor: it
    would take the account from its owner without the code."""
    secret, _codes = enrol(app, WORKER)
    body = {"username": WORKER, "old_password": PASSWORD, "new_password": "Another-Passw0rd!"}
    client = app.test_client()
    missing = client.post("/api/v1/security/password", json=body)
    assert missing.status_code == 401 and "totp" in missing.json["message"]
    wrong = client.post("/api/v1/security/password", json={**body, "totp": "000000" if code(secret) != "000000"
                                                                       else "111111"})
    assert wrong.status_code == 401 and "totp" in wrong.json["message"]
    assert audit_count(app, "2fa_failed", WORKER) >= 1
    changed = client.post("/api/v1/security/password", json={**body, "totp": code(secret, 1)})
    assert changed.status_code == 200, changed.json
    # The new password is the account's: it gets as far as the second factor, the old one does not.
    assert "totp" in api_login(app, WORKER, password="Another-Passw0rd!").json["message"]
    assert "totp" not in str(api_login(app, WORKER).json["message"])
