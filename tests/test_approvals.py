"""Four eyes on approvals (issue 14), through the API: needs, resources, projects and project
claims are approved or rejected by the explicit actions ``<id>/approve`` and ``<id>/reject``
(app/approvals/), by a street or community administrator in scope other than the submitter;
the decision columns are written on no other path (app/core/approvals.py). The screens are
tests/test_approvals_screens.py."""
import json

import pytest
from sqlalchemy import select

from app.core.approvals import BY_ACTION_ONLY, NOT_A_REVIEWER, NOT_YOUR_OWN, SUBMITTED_AS_PENDING
from app.extensions import db
from tests.factories import unchanged

RESOURCES = ("need", "resource", "project", "project_claim")
MODELS = {"need": "Need", "resource": "Resource", "project": "Project", "project_claim": "ProjectClaim"}


def zh(app, message):
    with app.test_request_context("/"):
        return str(message)


def stored(app, model_name, pk):
    """(status, submitted_by, reviewed_by, reviewed, reject_reason, review_note) of a record."""
    import models

    with app.app_context():
        row = db.session.get(getattr(models, model_name), pk)
        values = (row.status, row.submitted_by, row.reviewed_by, row.reviewed_at is not None, row.reject_reason,
                  row.review_note)
        db.session.remove()
        return values


def audit_entries(app, table, pk):
    """(action, changes) of a record's audit entries, oldest first."""
    from models import AuditLog

    with app.app_context():
        rows = db.session.execute(select(AuditLog.action, AuditLog.changes).where(
            AuditLog.record_type == table, AuditLog.record_id == str(pk)).order_by(AuditLog.id)).all()
        db.session.remove()
    return [(action, json.loads(changes or "{}")) for action, changes in rows]


def resource_body(world, **extra):
    return {"title": "单位会议室", "category": "venue", "unit": world["unit1"], "area": world["c1"], **extra}


def submitted_resource(world, api):
    response = api("liaison1").post("/api/v1/resource/", json=resource_body(world))
    assert response.status_code == 201, response.json
    return response.json["id"]


def world_record(app, model_name, area_id):
    """The id of the world's record of that kind in that community (written by the system)."""
    import models

    model = getattr(models, model_name)
    with app.app_context():
        pk = db.session.scalars(select(model.id).where(model.area_id == area_id)).first()
        db.session.remove()
    return pk


def pending_record(app, model_name, area_id):
    """The world's pending record of that kind in that community; for projects (the world's are
    approved) a pending one the system adds."""
    import models
    from app.core.actor import acting_as

    if model_name != "Project":
        pk = world_record(app, model_name, area_id)
        assert stored(app, model_name, pk)[0] == "pending"
        return pk
    with app.app_context(), acting_as(None, via="test"):
        project = models.Project(area_id=area_id, title="楼道照明改造", category="safety")
        db.session.add(project)
        db.session.commit()
        pk = project.id
        db.session.remove()
    return pk


@pytest.mark.parametrize("decided", [{"status": "approved"}, {"status": "rejected", "reject_reason": "重复"},
                                     {"reviewed_by": "liaison1"}, {"review_note": "同意"}])
def test_a_create_cannot_carry_a_decision(app, world, api, decided):
    """The attack of the issue: a resource created approved, with the liaison as its reviewer."""
    with unchanged(app):
        response = api("liaison1").post("/api/v1/resource/", json=resource_body(world, **decided))
    assert response.status_code == 400
    assert set(response.json["message"]) == set(decided)


def test_a_submission_is_pending_and_remembers_its_submitter(app, world, api):
    pk = submitted_resource(world, api)
    assert stored(app, "Resource", pk) == ("pending", "liaison1", None, False, None, None)


def test_a_reviewer_approves_with_a_note_and_is_recorded_in_one_audit_entry(app, world, api):
    pk = submitted_resource(world, api)
    response = api("community1").post(f"/api/v1/resource/{pk}/approve", json={"note": "可以使用"})
    assert response.status_code == 200, response.json
    assert response.json["id"] == pk
    assert response.json["result"]["status"] == "approved"
    assert response.json["result"]["reviewed_by"] == "community1"
    assert stored(app, "Resource", pk) == ("approved", "liaison1", "community1", True, None, "可以使用")
    entries = audit_entries(app, "resource", pk)
    assert [action for action, _ in entries] == ["create", "approve"]
    changes = entries[1][1]
    assert changes["status"] == ["pending", "approved"] and changes["reviewed_by"] == [None, "community1"]
    assert changes["review_note"] == [None, "可以使用"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_each_kind_is_approved_and_rejected_by_its_action(app, world, api, resource):
    model = MODELS[resource]
    first, second = (pending_record(app, model, world[c]) for c in ("c1", "c2"))
    approved = api("community1").post(f"/api/v1/{resource}/{first}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["result"]["status"] == "approved"
    assert stored(app, model, first)[:3] == ("approved", None, "community1")
    rejected = api("community2").post(f"/api/v1/{resource}/{second}/reject", json={"reason": "材料不全"})
    assert rejected.status_code == 200, rejected.json
    assert stored(app, model, second)[0] == "rejected" and stored(app, model, second)[4] == "材料不全"
    assert [action for action, _ in audit_entries(app, resource, second)] == ["create", "reject"]


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"note": "x"},
                                  {"reason": "太长" * 600}])
def test_a_rejection_needs_its_reason(app, world, api, body):
    pk = submitted_resource(world, api)
    with unchanged(app):
        response = api("community1").post(f"/api/v1/resource/{pk}/reject", json=body)
    assert response.status_code == 400, response.json
    assert "reason" in response.json["message"]
    assert stored(app, "Resource", pk)[0] == "pending"


def test_the_submitter_decides_nothing_of_their_own_by_the_action_or_by_put(app, world, api):
    need = api("community1").post("/api/v1/need/", json={"title": "独居老人探访", "category": "elderly",
                                                          "area": world["c1"]}).json["id"]
    client = api("community1")
    with unchanged(app):
        own = client.post(f"/api/v1/need/{need}/approve")
    assert own.status_code == 403 and own.json["message"] == {"status": [zh(app, NOT_YOUR_OWN)]}
    with unchanged(app):
        put = client.put(f"/api/v1/need/{need}", json={"status": "approved"})
    assert put.status_code == 400 and "status" in put.json["message"]
    with unchanged(app):
        put = client.put(f"/api/v1/need/{need}", json={"reviewed_by": "street1", "reviewed_at": "2026-01-01T10:00:00"})
    assert put.status_code == 400
    assert stored(app, "Need", need)[0] == "pending"
    assert audit_entries(app, "need", need)[-1][0] == "create"


def test_a_liaison_does_not_review(app, world, api):
    """Unit liaisons submit (resources, claims) but hold no review permission: 403."""
    need = world_record(app, "Need", world["c1"])
    with unchanged(app):
        for resource, pk in (("need", need), ("resource", world_record(app, "Resource", world["c1"]))):
            response = api("liaison1").post(f"/api/v1/{resource}/{pk}/approve")
            assert response.status_code == 403, (resource, response.json)
    assert stored(app, "Need", need)[0] == "pending"


def test_a_record_out_of_scope_is_not_found_like_a_missing_one(app, world, api):
    need = world_record(app, "Need", world["c1"])
    client = api("community2")
    with unchanged(app):
        out_of_scope = client.post(f"/api/v1/need/{need}/approve")
        missing = client.post("/api/v1/need/987654/approve")
        rejected = client.post(f"/api/v1/need/{need}/reject", json={"reason": "不在本社区"})
    assert out_of_scope.status_code == missing.status_code == rejected.status_code == 404
    assert out_of_scope.json == missing.json
    assert stored(app, "Need", need)[0] == "pending"


def test_a_decision_is_final(app, world, api):
    pk = submitted_resource(world, api)
    assert api("community1").post(f"/api/v1/resource/{pk}/approve").status_code == 200
    with unchanged(app):
        again = api("street1").post(f"/api/v1/resource/{pk}/reject", json={"reason": "重复登记"})
        twice = api("community1").post(f"/api/v1/resource/{pk}/approve")
    assert again.status_code == twice.status_code == 409
    assert list(again.json["message"]) == ["status"]
    assert stored(app, "Resource", pk)[:3] == ("approved", "liaison1", "community1")


def test_a_reviewer_does_not_decide_by_put_either(app, world, api):
    pk = submitted_resource(world, api)
    with unchanged(app):
        response = api("community1").put(f"/api/v1/resource/{pk}", json={"status": "approved", "reviewed_by": "某人"})
    assert response.status_code == 400 and "status" in response.json["message"]
    assert stored(app, "Resource", pk)[0] == "pending"


def test_the_submitter_edits_an_approved_record_but_not_its_decision(app, world, api):
    pk = submitted_resource(world, api)
    assert api("community1").post(f"/api/v1/resource/{pk}/approve").status_code == 200
    assert api("liaison1").put(f"/api/v1/resource/{pk}", json={"description": "可容纳50人"}).status_code == 200
    assert api("liaison1").put(f"/api/v1/resource/{pk}", json={"status": "pending"}).status_code == 400
    assert stored(app, "Resource", pk)[:3] == ("approved", "liaison1", "community1")


def test_the_submitter_correcting_a_rejected_record_resubmits_it(app, world, api):
    pk = submitted_resource(world, api)
    assert api("community1").post(f"/api/v1/resource/{pk}/reject", json={"reason": "请写明容量"}).status_code == 200
    edited = api("liaison1").put(f"/api/v1/resource/{pk}", json={"description": "可容纳50人"})
    assert edited.status_code == 200, edited.json
    assert stored(app, "Resource", pk) == ("pending", "liaison1", None, False, None, None)
    assert audit_entries(app, "resource", pk)[-1][1]["status"] == ["rejected", "pending"]
    # Another person's edit of a rejected record leaves it rejected.
    assert api("community1").post(f"/api/v1/resource/{pk}/reject", json={"reason": "仍不清楚"}).status_code == 200
    assert api("community1").put(f"/api/v1/resource/{pk}", json={"description": "约50人"}).status_code == 200
    assert stored(app, "Resource", pk)[0] == "rejected"
    assert api("liaison1").put(f"/api/v1/resource/{pk}", json={"description": "50人"}).status_code == 200
    assert api("street1").post(f"/api/v1/resource/{pk}/approve").status_code == 200


def test_a_liaisons_claim_is_pending_until_a_community_admin_approves_it(app, world, api):
    project = world_record(app, "Project", world["c1"])
    response = api("liaison1").post("/api/v1/project_claim/", json={"project": project, "unit": world["unit1"],
                                                                     "claimed_on": str(world["today"])})
    assert response.status_code == 201, response.json
    pk = response.json["id"]
    assert stored(app, "ProjectClaim", pk)[:3] == ("pending", "liaison1", None)
    assert api("liaison1").post(f"/api/v1/project_claim/{pk}/approve").status_code == 403
    assert api("community2").post(f"/api/v1/project_claim/{pk}/approve").status_code == 404
    approved = api("community1").post(f"/api/v1/project_claim/{pk}/approve")
    assert approved.status_code == 200 and approved.json["result"]["status"] == "approved"
    assert [a for a, _ in audit_entries(app, "project_claim", pk)] == ["create", "approve"]


def test_below_the_screens_a_decision_is_written_by_the_state_machine_only(app, world, api):
    """The session hook is the backstop: a reviewer's plain write of the status, and the write
    of someone who does not review, are refused at flush time."""
    from app.core.actor import acting_as
    from app.core.duties import DutiesRefused
    from models import Need
    from tests.factories import user

    pk = api("community1").post("/api/v1/need/", json={"title": "加装电梯", "category": "property",
                                                        "area": world["c1"]}).json["id"]
    for username, message in (("orgdept", NOT_A_REVIEWER), ("street1", BY_ACTION_ONLY),
                              ("community1", NOT_YOUR_OWN)):
        with app.app_context():
            with acting_as(user(app, username), via="web"):
                db.session.get(Need, pk).status = "approved"
                with pytest.raises(DutiesRefused) as refused:
                    db.session.commit()
                assert refused.value.errors == {"status": [message]}, username
                db.session.rollback()
            db.session.remove()
    with app.app_context():
        with acting_as(user(app, "liaison1"), via="web"):
            db.session.add(Need(area_id=world["c1"], title="楼道灯", status="approved"))
            with pytest.raises(DutiesRefused) as refused:
                db.session.flush()
            assert refused.value.errors == {"status": [SUBMITTED_AS_PENDING]}
            db.session.rollback()
        db.session.remove()
    assert stored(app, "Need", pk)[0] == "pending"


def test_the_openapi_document_has_the_actions_and_no_decision_in_a_body(app, world, api):
    spec = api("community1").get("/api/v1/_openapi").json
    for resource in RESOURCES:
        for decision, schema in (("approve", "ApprovalNote"), ("reject", "RejectionReason")):
            operation = spec["paths"][f"/api/v1/{resource}/{{pk}}/{decision}"]["post"]
            assert {"200", "400", "403", "404", "409"} <= set(operation["responses"]), (resource, decision)
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{schema}"}
    assert spec["components"]["schemas"]["RejectionReason"]["required"] == ["reason"]
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith((".post", ".put")) and name.split(".")[0] in (
                "NeedApi", "ResourceApi", "ProjectApi", "ProjectClaimApi"):
            assert not {"status", "reviewed_by", "reviewed_at", "reject_reason", "review_note",
                        "submitted_by"} & set(schema["properties"]), name


def test_only_street_and_community_admins_review():
    from app.core.roles import REVIEWED, ROLES

    for role, permissions in ROLES.items():
        reviews = {resource for permission, resource in permissions if permission == "can_review"}
        assert reviews == (set(REVIEWED) if role in ("StreetAdmin", "CommunityAdmin") else set()), role
