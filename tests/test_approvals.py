"""Four eyes on approvals (issue 14): needs, resources and projects are approved or rejected by a
street or community administrator other than the person who submitted them, on every path; the
reviewer and the time are recorded from who acted (app/core/approvals.py)."""
import pytest
from sqlalchemy import select

from app.core.approvals import NOT_A_REVIEWER, NOT_YOUR_OWN, SUBMITTED_AS_PENDING
from app.extensions import db
from tests.factories import unchanged


def zh(app, message):
    with app.test_request_context("/"):
        return str(message)


def stored(app, model_name, pk):
    import models

    with app.app_context():
        row = db.session.get(getattr(models, model_name), pk)
        values = (row.status, row.submitted_by, row.reviewed_by, row.reviewed_at is not None)
        db.session.remove()
        return values


def resource_body(world, **extra):
    return {"title": "单位会议室", "category": "venue", "unit": world["unit1"], "area": world["c1"], **extra}


@pytest.mark.parametrize("decided", [{"status": "approved"}, {"status": "rejected", "reject_reason": "重复"},
                                     {"reviewed_by": "liaison1"}])
def test_a_liaison_cannot_submit_an_already_decided_resource(app, world, api, decided):
    """The attack of the issue: a resource created approved, with the liaison as its reviewer."""
    with unchanged(app):
        response = api("liaison1").post("/api/v1/resource/", json=resource_body(world, **decided))
    assert response.status_code == 400
    assert response.json["message"] == {"status": [zh(app, SUBMITTED_AS_PENDING)]}


def test_a_submission_is_pending_and_remembers_its_submitter(app, world, api):
    response = api("liaison1").post("/api/v1/resource/", json=resource_body(world))
    assert response.status_code == 201, response.json
    assert stored(app, "Resource", response.json["id"]) == ("pending", "liaison1", None, False)


def test_nobody_decides_their_own_submission_and_only_reviewers_decide(app, world, api):
    pk = api("liaison1").post("/api/v1/resource/", json=resource_body(world)).json["id"]
    with unchanged(app):
        own = api("liaison1").put(f"/api/v1/resource/{pk}", json={"status": "approved"})
    assert own.status_code == 400 and own.json["message"] == {"status": [zh(app, NOT_YOUR_OWN)]}
    need = api("community1").post("/api/v1/need/", json={"title": "独居老人探访", "category": "elderly",
                                                          "area": world["c1"]}).json["id"]
    with unchanged(app):
        own = api("community1").put(f"/api/v1/need/{need}", json={"status": "approved"})
    assert own.status_code == 400 and own.json["message"] == {"status": [zh(app, NOT_YOUR_OWN)]}
    assert stored(app, "Need", need)[0] == "pending"


def test_a_reviewer_decides_and_is_recorded_whatever_the_request_says(app, world, api):
    pk = api("liaison1").post("/api/v1/resource/", json=resource_body(world)).json["id"]
    response = api("community1").put(f"/api/v1/resource/{pk}", json={"status": "approved", "reviewed_by": "某人"})
    assert response.status_code == 200, response.json
    assert stored(app, "Resource", pk) == ("approved", "liaison1", "community1", True)
    need = api("community1").post("/api/v1/need/", json={"title": "楼道灯", "category": "safety",
                                                          "area": world["c1"]}).json["id"]
    assert api("street1").put(f"/api/v1/need/{need}", json={"status": "approved"}).status_code == 200
    assert stored(app, "Need", need) == ("approved", "community1", "street1", True)


def test_the_submitter_edits_the_description_but_not_the_decision(app, world, api):
    pk = api("liaison1").post("/api/v1/resource/", json=resource_body(world)).json["id"]
    assert api("community1").put(f"/api/v1/resource/{pk}", json={"status": "approved"}).status_code == 200
    edited = api("liaison1").put(f"/api/v1/resource/{pk}", json={"description": "可容纳50人"})
    assert edited.status_code == 200
    reopened = api("liaison1").put(f"/api/v1/resource/{pk}", json={"status": "pending"})
    assert reopened.status_code == 400
    assert stored(app, "Resource", pk) == ("approved", "liaison1", "community1", True)


def test_a_screen_submission_cannot_be_decided_by_its_submitter(app, world, browser):
    """The same rule on the screens (CSRF on): the community admin's own need stays pending."""
    from models import Need

    client = browser("community1")
    client.submit("/needview/add", {"title": "健身器材维修", "category": "health", "area": world["c1"],
                                    "status": "pending"})
    with app.app_context():
        need = db.session.scalars(select(Need).where(Need.title == "健身器材维修")).one()
        pk = need.id
        assert need.submitted_by == "community1"
        db.session.remove()
    response = client.submit(f"/needview/edit/{pk}", {"title": "健身器材维修", "category": "health",
                                                       "area": world["c1"], "status": "approved"})
    page = response.get_data(as_text=True) + client.get("/needview/list/").get_data(as_text=True)
    assert zh(app, NOT_YOUR_OWN) in page
    assert stored(app, "Need", pk)[0] == "pending"


def test_an_account_that_does_not_review_cannot_decide(app, world, api):
    """The organisation department reads every list but does not review them: a decision written
    as them is refused below the screens, in the session (no screen lets them write a need)."""
    from app.core.actor import acting_as
    from app.core.duties import DutiesRefused
    from models import Need
    from tests.factories import user

    pk = api("community1").post("/api/v1/need/", json={"title": "加装电梯", "category": "property",
                                                        "area": world["c1"]}).json["id"]
    with app.app_context():
        with acting_as(user(app, "orgdept"), via="web"):
            db.session.get(Need, pk).status = "approved"
            with pytest.raises(DutiesRefused) as refused:
                db.session.commit()
            assert refused.value.errors == {"status": [NOT_A_REVIEWER]}
            db.session.rollback()
        db.session.remove()
    assert stored(app, "Need", pk)[0] == "pending"
