"""Every REST resource of the contract: create, read, update, delete as a user would, and the
OpenAPI document lists them."""
from datetime import date, timedelta

import pytest

from app.demo.fakedata import FakeData

fake = FakeData(seed=21)
# The day the tests run on (the clock is pinned to it): the payloads' dates are today's, their
# agreement (2026-01-01..2027-12-31) is current and their grade is this year's (2026).
TODAY = date(2026, 11, 20)
pytestmark = pytest.mark.today(TODAY)


def payloads(world, app):
    """resource -> (user, create payload, update payload, a field to read back)."""
    with app.app_context():
        from app.extensions import db
        from models import GradeOption, MeetingType

        grade = db.session.query(GradeOption).filter_by(name="合格").one().id
        mtype = db.session.query(MeetingType).filter_by(name="板凳会").one().id
    return {
        "area": ("community1", {"parent": world["c1"], "level": "grid", "code": "650102001001009",
                                "name": "幸福社区第九网格", "grid_worker": "刘胜"}, {"grid_worker": "刘永利"}, "grid_worker"),
        "unit": ("community1", {"name": "幸福中学", "unit_type": "institution", "area": world["c1"],
                                "credit_code": fake.credit_code(kind="1", cat="2"), "member_count": 40},
                 {"member_count": 41}, "member_count"),
        "unit_checkin": ("community1", {"unit": world["unit1"], "area": world["g11"], "status": "registered",
                                        "registered_on": str(TODAY)}, {"slip_no": "BD-2026-001"}, "slip_no"),
        "agreement": ("community1", {"checkin": world["checkin1"], "title": "共建协议", "starts_on": "2026-01-01",
                                     "ends_on": "2027-12-31"}, {"liaison": "王强"}, "liaison"),
        "party_member": ("community1", {"name": "孙悦", "id_card": fake.id_card(region="650102"),
                                        "area": world["g12"]}, {"skills": "书法教学"}, "skills"),
        "member_checkin": ("community1", {"member": world["m1"], "area": world["g11"], "status": "registered",
                                          "registered_on": str(TODAY)}, {"card_no": "BDZ-0001"}, "card_no"),
        "need": ("community1", {"title": "独居老人探访", "category": "elderly", "area": world["c1"]},
                 {"description": "每周两次"}, "description"),
        "resource": ("community1", {"title": "会议室", "category": "venue", "unit": world["unit1"],
                                    "area": world["c1"]}, {"description": "可容纳50人"}, "description"),
        "project": ("community1", {"title": "电动车充电桩", "category": "safety", "area": world["c1"]},
                    {"description": "小区东门"}, "description"),
        "service_record": ("community1", {"member": world["m1"], "served_on": str(TODAY), "hours": 2.5,
                                          "points": 2.5, "content": "垃圾分类指导"}, {"hours": 3}, "hours"),
        "evaluation": ("community1", {"period": "2026", "member": world["m1"], "grade": grade},
                       {"comment": "表现良好"}, "comment"),
        "meeting": ("community1", {"meeting_type": mtype, "title": "楼栋板凳会", "area": world["g11"],
                                   "held_at": f"{TODAY}T19:00:00", "convener": "何涛"}, {"place": "18栋楼下"}, "place"),
        "agenda_item": ("community1", {"meeting": world["meeting1"], "seq": 1, "title": "楼道杂物清理"},
                        {"proposer": "居民代表"}, "proposer"),
        "resolution": ("community1", {"meeting": world["meeting1"], "title": "绿化浇水", "lead_person": "田云",
                                      "deadline": str(TODAY + timedelta(days=14))},
                       {"status": "in_progress"}, "status"),
        "meeting_type": ("admin", {"name": "火塘会"}, {"description": "围炉议事"}, "description"),
        "grade_option": ("admin", {"name": "称职", "rank": 5, "requires_checkin": True}, {"rank": 6}, "rank"),
        "post_category": ("admin", {"name": "文明劝导员"}, {"active": False}, "active"),
        "service_quota": ("admin", {"name": "半年指标", "period": "quarter", "min_activities": 1, "min_hours": 2,
                                    "min_points": 2}, {"min_hours": 3}, "min_hours"),
        "setting": ("admin", {"key": "demo_key", "value": "1"}, {"value": "2"}, "value"),
    }


RESOURCES = ["area", "unit", "unit_checkin", "agreement", "party_member", "member_checkin", "need", "resource",
             "project", "service_record", "evaluation", "meeting", "agenda_item", "resolution", "meeting_type",
             "grade_option", "post_category", "service_quota", "setting"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_api_crud(resource, world, api, app):
    username, create, update, field = payloads(world, app)[resource]
    client = api(username)
    created = client.post(f"/api/v1/{resource}/", json=create)
    assert created.status_code == 201, created.json
    pk = created.json["id"]
    got = client.get(f"/api/v1/{resource}/{pk}")
    assert got.status_code == 200
    changed = client.put(f"/api/v1/{resource}/{pk}", json=update)
    assert changed.status_code == 200, changed.json
    assert client.get(f"/api/v1/{resource}/{pk}").json["result"][field] == list(update.values())[0]
    listed = client.get(f"/api/v1/{resource}/?q=(page_size:100)")
    assert pk in [row["id"] for row in listed.json["result"]]
    assert client.delete(f"/api/v1/{resource}/{pk}").status_code == 200
    assert client.get(f"/api/v1/{resource}/{pk}").status_code == 404


def test_openapi_lists_every_contract_resource(world, api):
    spec = api("orgdept").get("/api/v1/_openapi")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    for name in ["area", "unit", "unit_checkin", "party_member", "member_checkin", "service_record", "meeting",
                 "resolution", "evaluation", "audit_log"]:
        assert f"/api/v1/{name}/" in paths, name


def test_child_records_inherit_area_and_community(world, api, app):
    client = api("community1")
    created = client.post("/api/v1/resolution/", json={"meeting": world["meeting1"], "title": "停车位划线",
                                                       "lead_person": "何涛", "deadline": str(TODAY)})
    assert created.status_code == 201, created.json
    row = client.get(f"/api/v1/resolution/{created.json['id']}").json["result"]
    assert row["area_id"] == world["c1"]
    service = client.post("/api/v1/service_record/", json={"member": world["m1"], "served_on": str(TODAY),
                                                           "hours": 1, "content": "巡逻"})
    listed = client.get("/api/v1/service_record/?q=(page_size:100)").json["result"]
    mine = [r for r in listed if r["id"] == service.json["id"]][0]
    assert mine["area_id"] == world["g11"] and mine["community_id"] == world["c1"]
