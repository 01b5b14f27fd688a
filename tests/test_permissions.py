"""Role × endpoint matrix, generated from the registered screens and APIs: each role reaches
exactly what app/core/roles.py grants it, and nothing else (a resource added later is covered too)."""
import pytest

from app.core.roles import ROLES
from views.api_base import GongjianApi
from views.base import GongjianBaseView

ROLE_USERS = {"Admin": "admin", "SecurityAdmin": "security", "OrgDept": "orgdept", "Auditor": "auditor",
              "StreetAdmin": "street1", "CommunityAdmin": "community1", "UnitLiaison": "liaison1",
              "Public": "nobody"}


def granted(role, permission, resource):
    return (permission, resource) in ROLES[role]


def registered(app, kind):
    return [v for v in app.appbuilder.baseviews if isinstance(v, kind)]


@pytest.mark.parametrize("role", [r for r in ROLE_USERS if r != "Public"])
def test_api_matrix(role, app, world, api):
    from tests.factories import unchanged

    client = api(ROLE_USERS[role])
    for view in registered(app, GongjianApi):
        url = f"/api/v1/{view.resource_name}/"
        resource = view.class_permission_name
        listed = client.get(url)
        assert listed.status_code == (200 if granted(role, "can_read", resource) else 403), (role, url)
        info = client.get(url + "_info")
        assert info.status_code == (200 if granted(role, "can_read", resource) else 403), (role, url)
        # An id the role could change if it might (a listed one), else 1.
        some_id = (listed.json.get("ids") or [1])[0] if listed.status_code == 200 else 1
        with unchanged(app):  # every refusal below writes nothing
            if getattr(view, "requests_are_reads", False):
                # POST asks for something (an export) under the read permission; it changes no record.
                expected = 400 if granted(role, "can_read", resource) else 403
                assert client.post(url, json={}).status_code == expected, (role, url)
            elif not granted(role, "can_write", resource):
                assert client.post(url, json={}).status_code in (403, 405), (role, url)
            if not granted(role, "can_write", resource):
                assert client.put(f"{url}{some_id}", json={}).status_code in (403, 404, 405), (role, url)
                assert client.delete(f"{url}{some_id}").status_code in (403, 404, 405), (role, url)


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_screen_matrix(role, app, world, browser):
    user = browser(ROLE_USERS[role])
    for view in registered(app, GongjianBaseView):
        resource = view.class_permission_name
        page = user.get(f"{view.route_base}/list/")
        if granted(role, "can_read", resource):
            assert page.status_code == 200, (role, view.route_base)
        else:  # FAB redirects a refusal to the login or home page
            assert page.status_code in (302, 403), (role, view.route_base)
        add = user.get(f"{view.route_base}/add")
        if not granted(role, "can_write", resource):
            assert add.status_code in (302, 403, 404), (role, view.route_base)


def test_no_role_combines_users_audit_and_records():
    """三员分立: managing accounts, reading the audit log and editing records never meet."""
    for role, permissions in ROLES.items():
        manages_users = ("can_add", "UserDBModelView") in permissions
        reads_audit = ("can_read", "AuditLog") in permissions
        edits_records = any(p == "can_write" and r not in ("UserScope", "LoginGuard") for p, r in permissions)
        assert sum([manages_users, reads_audit, edits_records]) <= 1, role
        assert ("can_write", "AuditLog") not in permissions


def test_related_tabs_hidden_without_read_permission(app, world, browser):
    html = browser("security").get(f"/unitview/show/{world['unit1']}").get_data(as_text=True)
    assert "天山区市场监督管理局" in html
    assert "张丽" not in html  # the members tab needs read on members
    html = browser("orgdept").get(f"/unitview/show/{world['unit1']}").get_data(as_text=True)
    assert "张丽" in html


def test_only_orgdept_sees_personal_data(app):
    for role, permissions in ROLES.items():
        assert (("can_view", "PersonalData") in permissions) == (role == "OrgDept"), role
