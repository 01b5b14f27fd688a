"""Hardening: account lockout that survives a restart, production refuses a weak SECRET_KEY,
CSRF on forms, the public role sees nothing."""
from datetime import UTC, datetime

import pytest

from app import create_app
from app.factory import ConfigurationError
from tests.conftest import PASSWORD, Api, Browser, make_app
from tests.factories import unchanged


def test_lockout_after_repeated_failures_survives_restart(world, app, tmp_path):
    client = app.test_client()
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        response = client.post("/api/v1/security/login", json={"username": "community2", "password": "bad",
                                                               "provider": "db"})
        assert response.status_code == 401
    locked = client.post("/api/v1/security/login", json={"username": "community2", "password": PASSWORD,
                                                         "provider": "db"})
    assert locked.status_code == 401  # even the right password is refused now
    # A new app process over the same database still refuses it.
    restarted = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"])
    again = restarted.test_client().post("/api/v1/security/login", json={
        "username": "community2", "password": PASSWORD, "provider": "db"})
    assert again.status_code == 401
    user = Browser(restarted)
    user.login("community2")
    page = user.get("/login/").get_data(as_text=True)  # the flashed reason
    assert "locked" in page or "锁定" in page
    from app.extensions import db
    from models import AuditLog, LoginGuard

    with app.app_context():
        assert db.session.query(AuditLog).filter_by(action="lockout", summary="community2").count() == 1
        assert db.session.query(AuditLog).filter_by(action="login_refused_locked").count() >= 2
        db.session.query(LoginGuard).delete()
        db.session.commit()
    assert Api(app, "community2").headers  # unlocked by the security admin (row removed)


def test_success_resets_the_failure_count(world, app):
    client = app.test_client()
    for _ in range(app.config["LOCKOUT_FAILURES"] - 1):
        client.post("/api/v1/security/login", json={"username": "community1", "password": "bad", "provider": "db"})
    assert Api(app, "community1").headers
    for _ in range(app.config["LOCKOUT_FAILURES"] - 1):
        client.post("/api/v1/security/login", json={"username": "community1", "password": "bad", "provider": "db"})
    assert Api(app, "community1").headers


@pytest.mark.parametrize("key", [None, "short", "gongjian-demo-secret-key-not-for-production"])
def test_production_refuses_weak_secret_key(key, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJIAN_ENV", "production")
    monkeypatch.setenv("GONGJIAN_DATA_DIR", str(tmp_path))
    if key:
        monkeypatch.setenv("SECRET_KEY", key)
    else:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError):
        create_app()


def test_production_starts_with_strong_key_and_no_swagger(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJIAN_ENV", "production")
    monkeypatch.setenv("GONGJIAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 48)
    app = create_app()
    assert app.config["FAB_API_SWAGGER_UI"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"  # no Redis broker named


def test_production_throttles_logins_in_the_redis_broker(monkeypatch):
    """Several web processes share one count of login attempts: in production the throttle keeps
    it in the Redis broker unless told otherwise."""
    from config import Config

    monkeypatch.setenv("GONGJIAN_ENV", "production")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis.internal:6379/0")
    monkeypatch.delenv("GONGJIAN_RATELIMIT_STORAGE", raising=False)
    assert Config().RATELIMIT_STORAGE_URI == "redis://redis.internal:6379/0"
    monkeypatch.setenv("GONGJIAN_RATELIMIT_STORAGE", "redis://other:6379/3")
    assert Config().RATELIMIT_STORAGE_URI == "redis://other:6379/3"
    monkeypatch.setenv("GONGJIAN_ENV", "demo")
    monkeypatch.delenv("GONGJIAN_RATELIMIT_STORAGE")
    assert Config().RATELIMIT_STORAGE_URI == "memory://"


def test_form_post_without_csrf_token_is_refused(world, app):
    user = Browser(app, "community1")
    with unchanged(app):
        response = user.client.post("/partymemberview/add", data={"name": "无令牌", "id_card": "11010519491231002X",
                                                                 "area": str(world["g11"])})
        assert response.status_code == 400


def test_session_cookie_is_httponly_and_samesite(world, app):
    user = Browser(app)
    response = user.login("community1")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers_and_expiring_session(world, app):
    response = Browser(app, "community1").get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]
    cookie = Browser(app).login("community1").headers.get("Set-Cookie", "")
    assert "Expires=" in cookie  # a permanent session with the configured lifetime


@pytest.mark.parametrize("password,ok", [("short1A!", False), ("alllowercaseletters", False),
                                          ("Lower-and-digits1", True), ("UPPER1234567", False)])
def test_password_complexity(password, ok):
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    from app.core.formats import password_complexity

    if ok:
        password_complexity(password)
    else:
        with pytest.raises(PasswordComplexityValidationError):
            password_complexity(password)


def test_login_redirect_stays_on_site(world, app):
    user = Browser(app)
    token = user.csrf_token("/login/")
    response = user.client.post("/login/?next=https://evil.example.com/", data={
        "username": "community1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "evil.example.com" not in response.headers["Location"]


def test_login_form_is_throttled_per_address(world, tmp_path, app):
    import time

    import time_machine

    throttled = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_ENABLED=True,
                         AUTH_RATE_LIMIT="3 per minute")
    # The clock stands still, 5 s into the next minute: the five tries cannot straddle a minute (a
    # new window would let the fourth and fifth through).
    standstill = datetime.fromtimestamp((time.time() // 60 + 1) * 60 + 5, UTC)
    with time_machine.travel(standstill, tick=False):
        user = Browser(throttled)
        token = user.csrf_token("/login/")
        codes = [user.client.post("/login/", data={"username": "nobody-here", "password": "x",
                                                   "csrf_token": token}).status_code for _ in range(5)]
    assert codes == [302, 302, 302, 429, 429]


def test_captchas_are_throttled_per_address_like_the_login(world, tmp_path, app):
    """GET /api/v1/security/captcha stores a challenge: without the login's limit anyone could fill
    the table."""
    import time

    import time_machine

    throttled = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_ENABLED=True,
                         AUTH_RATE_LIMIT="3 per minute")
    standstill = datetime.fromtimestamp((time.time() // 60 + 1) * 60 + 5, UTC)
    with time_machine.travel(standstill, tick=False):
        client = throttled.test_client()
        codes = [client.get("/api/v1/security/captcha").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_public_role_has_no_permissions(app):
    with app.app_context():
        role = app.appbuilder.sm.find_role("Public")
        assert role.permissions == []


def test_security_admin_unlocks_an_account(world, app):
    client = app.test_client()
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        client.post("/api/v1/security/login", json={"username": "street1", "password": "bad", "provider": "db"})
    security = Browser(app, "security")
    listing = security.get("/lockedaccountview/list/").get_data(as_text=True)
    assert "street1" in listing
    with app.app_context():
        user_id = app.appbuilder.sm.find_user(username="street1").id
    response = security.post(f"/lockedaccountview/delete/{user_id}", with_token_from="/userscopeview/add")
    assert response.status_code == 302
    assert Api(app, "street1").headers  # can log in again
    from app.extensions import db
    from models import AuditLog

    with app.app_context():
        assert db.session.query(AuditLog).filter_by(action="unlock", actor="security").count() == 1
    assert Browser(app, "community1").get("/lockedaccountview/list/").status_code == 403


def test_session_cookie_alone_cannot_call_the_api(world, app):
    """The API is CSRF-exempt, so it must not accept the screens' session cookie."""
    user = Browser(app, "community1")
    assert user.get("/partymemberview/list/").status_code == 200
    assert user.get("/api/v1/party_member/").status_code == 401
    token = user.csrf_token("/partymemberview/add")
    response = user.client.post("/api/v1/party_member/", json={"name": "跨站"}, headers={"X-CSRFToken": token})
    assert response.status_code == 401


def test_swagger_ui_only_outside_production(world, app, tmp_path, monkeypatch):
    assert Browser(app, "community1").get("/swagger/v1").status_code == 200
    monkeypatch.setenv("GONGJIAN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "y" * 48)
    production = make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], GONGJIAN_ENV="production",
                          FAB_API_SWAGGER_UI=False)
    assert Browser(production, "community1").get("/swagger/v1").status_code == 404


def test_cli_work_on_a_users_behalf_stays_in_scope(world, app):
    from app.core.actor import acting_as
    from app.core.scope import ScopeViolation
    from app.extensions import db
    from models import Area, PartyMember

    with app.app_context():
        community1 = app.appbuilder.sm.find_user(username="community1")
        with acting_as(community1, via="cli"):
            member = db.session.get(PartyMember, world["m1"])
            member.area = db.session.get(Area, world["g21"])
            with pytest.raises(ScopeViolation):
                db.session.commit()
            db.session.rollback()
        assert db.session.get(PartyMember, world["m1"]).area_id == world["g11"]


def test_account_screens_name_roles_and_permissions_in_chinese(app, browser):
    """Roles show by their Chinese names (with the code), permissions as 读取 · 在职党员."""
    security = browser("security")
    users = security.get("/users/list/").get_data(as_text=True)
    assert "社区管理员 (CommunityAdmin)" in users
    roles = security.get("/roles/list/").get_data(as_text=True)
    assert "组织部 (OrgDept)" in roles
    assert "读取 · 在职党员" in roles and "编辑 · 在职党员" in roles
    assert "完整查看 · 个人敏感信息（身份证号、手机号）" in roles
    assert "can read on" not in roles
    form = security.get("/users/add").get_data(as_text=True)
    assert ">社区管理员 (CommunityAdmin)</option>" in form
    assert "(Auditor)</option>" not in form  # given on the command line only (tests/test_duties.py)
