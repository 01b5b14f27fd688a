"""Four eyes on approvals (issue 14) on the screens (test client with CSRF on): 审核通过 / 驳回 on a
pending record's show page, the list's bulk 审核通过, forms without the decision columns; and
migration 0018, which makes the claims made before the rule approved by the system."""
import pytest
from sqlalchemy import select, text

from app.approvals.decisions import REASON_NEEDED
from app.core.approvals import NOT_YOUR_OWN
from app.extensions import db
from tests.factories import unchanged
from tests.test_approvals import audit_entries, pending_record, stored, submitted_resource, world_record, zh

FORMS = ('id="approve-form"', 'id="reject-form"')


def follow(client, response):
    """The page a screen's POST redirected to (its flashed messages)."""
    assert response.status_code == 302, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


def decide_on_screen(client, view, decision, pk, **form):
    return client.post(f"/{view}/{decision}/{pk}", form, with_token_from=f"/{view}/list/")


def test_a_reviewer_rejects_with_a_reason_on_the_show_page(app, world, api, browser):
    pk = submitted_resource(world, api)
    client = browser("community1")
    page = client.get(f"/resourceview/show/{pk}").get_data(as_text=True)
    assert all(form in page for form in FORMS)
    with unchanged(app):
        refused = decide_on_screen(client, "resourceview", "reject", pk, reason="  ")
    assert zh(app, REASON_NEEDED) in follow(client, refused)
    page = follow(client, decide_on_screen(client, "resourceview", "reject", pk, reason="请补充开放时间"))
    assert stored(app, "Resource", pk)[:3] == ("rejected", "liaison1", "community1")
    assert stored(app, "Resource", pk)[4] == "请补充开放时间"
    assert "请补充开放时间" in page and not any(form in page for form in FORMS)  # decided: final
    with unchanged(app):
        again = decide_on_screen(client, "resourceview", "approve", pk)
    assert "请补充开放时间" in follow(client, again)
    assert stored(app, "Resource", pk)[0] == "rejected"


def test_a_reviewer_approves_a_claim_with_a_note(app, world, api, browser):
    project = world_record(app, "Project", world["c1"])
    pk = api("liaison1").post("/api/v1/project_claim/", json={"project": project, "unit": world["unit1"],
                                                               "claimed_on": str(world["today"])}).json["id"]
    client = browser("community1")
    assert all(form in client.get(f"/projectclaimview/show/{pk}").get_data(as_text=True) for form in FORMS)
    follow(client, decide_on_screen(client, "projectclaimview", "approve", pk, note="按期开展"))
    assert stored(app, "ProjectClaim", pk) == ("approved", "liaison1", "community1", True, None, "按期开展")
    assert [action for action, _ in audit_entries(app, "project_claim", pk)] == ["create", "approve"]


def test_the_submitter_is_offered_no_buttons_and_is_refused(app, world, browser):
    from models import AuditLog, Need

    client = browser("community1")
    client.submit("/needview/add", {"title": "健身器材维修", "category": "health", "area": world["c1"],
                                    "status": "approved"})
    with app.app_context():
        need = db.session.scalars(select(Need).where(Need.title == "健身器材维修")).one()
        pk, submitter, status = need.id, need.submitted_by, need.status
        db.session.remove()
    assert (submitter, status) == ("community1", "pending")  # the form's status was not a field
    assert not any(form in client.get(f"/needview/show/{pk}").get_data(as_text=True) for form in FORMS)
    with unchanged(app):
        refused = decide_on_screen(client, "needview", "approve", pk)
    assert zh(app, NOT_YOUR_OWN) in follow(client, refused)
    assert stored(app, "Need", pk)[0] == "pending"
    with app.app_context():
        denied = db.session.scalars(select(AuditLog.summary).where(
            AuditLog.action == "denied", AuditLog.record_type == "need", AuditLog.record_id == str(pk))).all()
        db.session.remove()
    assert len(denied) == 1


def test_the_forms_have_no_decision_fields(app, world, browser):
    need = world_record(app, "Need", world["c1"])
    client = browser("community1")
    for url in ("/needview/add", f"/needview/edit/{need}", "/projectclaimview/add"):
        page = client.get(url).get_data(as_text=True)
        for column in ("status", "reviewed_by", "reviewed_at", "reject_reason", "review_note", "submitted_by"):
            assert f'name="{column}"' not in page, (url, column)
    client.submit(f"/needview/edit/{need}", {"title": "独居老人探访（每周）", "category": "elderly",
                                              "area": world["c1"], "status": "approved", "reviewed_by": "community1"})
    assert stored(app, "Need", need)[0] == "pending"


def test_a_liaison_and_another_community_cannot_decide_on_the_screens(app, world, browser):
    resource = world_record(app, "Resource", world["c1"])
    liaison = browser("liaison1")
    with unchanged(app):
        response = decide_on_screen(liaison, "resourceview", "approve", resource)
    assert response.status_code == 403
    assert not any(form in liaison.get(f"/resourceview/show/{resource}").get_data(as_text=True) for form in FORMS)
    other = browser("community2")
    token_page = "/resourceview/list/"
    with unchanged(app):
        assert other.post(f"/resourceview/approve/{resource}", {}, with_token_from=token_page).status_code == 404
        assert other.post(f"/resourceview/reject/{resource}", {"reason": "x"},
                          with_token_from=token_page).status_code == 404
    assert stored(app, "Resource", resource)[0] == "pending"


def test_without_the_csrf_token_nothing_is_decided(app, world, browser):
    need = world_record(app, "Need", world["c1"])
    client = browser("street1")
    with unchanged(app):
        assert client.post(f"/needview/approve/{need}", {}).status_code == 400
    assert stored(app, "Need", need)[0] == "pending"


def bulk_approve(client, view, ids):
    return client.post(f"/{view}/action_post", {"action": "approve_selected", "rowid": [str(i) for i in ids]},
                       with_token_from=f"/{view}/list/")


def test_the_bulk_approval_decides_all_the_selected_or_none(app, world, browser):
    first = pending_record(app, "Need", world["c1"])
    second = pending_record(app, "Project", world["c1"])
    out_of_scope = pending_record(app, "Project", world["c2"])
    another = pending_record(app, "Project", world["c1"])
    third = pending_record(app, "Project", world["c1"])
    client = browser("community1")
    with unchanged(app):
        assert bulk_approve(client, "projectview", [second, out_of_scope]).status_code == 404
        assert bulk_approve(client, "projectview", [second, 987654]).status_code == 404
    assert stored(app, "Project", second)[0] == stored(app, "Project", out_of_scope)[0] == "pending"
    follow(client, bulk_approve(client, "projectview", [second, another]))
    assert stored(app, "Project", second)[:3] == stored(app, "Project", another)[:3] == ("approved", None,
                                                                                          "community1")
    assert [action for action, _ in audit_entries(app, "project", another)][-1] == "approve"
    # A decided record among the selected: none of them is decided.
    follow(client, bulk_approve(client, "needview", [first]))
    with unchanged(app):
        follow(client, bulk_approve(client, "projectview", [third, second]))
    assert stored(app, "Project", third)[0] == "pending"
    resource = world_record(app, "Resource", world["c1"])
    with unchanged(app):  # a liaison holds no review permission: FAB's refusal, a redirect
        assert browser("liaison1").post("/resourceview/action_post", {"action": "approve_selected",
                                                                      "rowid": [str(resource)]},
                                        with_token_from="/resourceview/list/").status_code == 302
    assert stored(app, "Resource", resource)[0] == "pending"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path):
    from tests.conftest import create_pg_database, make_app

    drop = url = None
    if request.param == "postgresql":
        url, drop = create_pg_database()
    application = make_app(tmp_path, url)
    yield application
    if drop:
        with application.app_context():
            db.engine.dispose()
        drop()


def test_migration_0018_approves_the_claims_made_before_the_rule(empty_app):
    from flask_migrate import downgrade, upgrade

    stamp = "2026-12-01 10:00:00"
    with empty_app.app_context():
        upgrade(revision="0017")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO area (id, level, code, name, path, created_at, updated_at) "
                f"VALUES (1, 'community', '650102001001', '幸福社区', '/1/', '{stamp}', '{stamp}')"))
            connection.execute(text(
                "INSERT INTO project (id, title, category, status, area_id, created_at, updated_at) "
                f"VALUES (1, '充电桩', 'safety', 'approved', 1, '{stamp}', '{stamp}')"))
            connection.execute(text(
                "INSERT INTO project_claim (id, project_id, claimed_on, area_id, created_at, updated_at) "
                f"VALUES (1, 1, '2026-11-30', 1, '{stamp}', '{stamp}')"))
        upgrade()
        with db.engine.connect() as connection:
            row = connection.execute(text(
                "SELECT status, reviewed_by, submitted_by, review_note FROM project_claim WHERE id = 1")).one()
        assert tuple(row) == ("approved", "system", None, None)
        downgrade(revision="0017")
        db.engine.dispose()
