"""Domain rules on every record, through the API and the screens, with the same message."""
from datetime import date, timedelta

import pytest

from app.demo.fakedata import FakeData

fake = FakeData(seed=31)
# The day the tests run on (the clock is pinned to it, so "the future" starts at TOMORROW even
# across midnight); the 2026 grades are this year's.
TODAY = date(2026, 11, 20)
TOMORROW = TODAY + timedelta(days=1)
pytestmark = pytest.mark.today(TODAY)


def test_unit_credit_code_checksum(world, api):
    client = api("community1")
    good = fake.credit_code()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = client.post("/api/v1/unit/", json={"name": "某科技有限公司", "unit_type": "private",
                                                  "area": world["c1"], "credit_code": bad})
    assert response.status_code == 400 and list(response.json["message"]) == ["credit_code"]
    response = client.post("/api/v1/unit/", json={"name": "某科技有限公司", "unit_type": "private",
                                                  "area": world["c1"], "credit_code": good.lower()})
    assert response.status_code == 201
    assert response.json["result"]["credit_code"] == good  # normalised to upper case


def test_unit_type_must_be_a_known_choice(world, api):
    response = api("community1").post("/api/v1/unit/", json={"name": "x", "unit_type": "martian",
                                                             "area": world["c1"]})
    assert response.status_code == 400 and "unit_type" in response.json["message"]


def test_agreement_must_end_after_it_starts(world, api):
    response = api("community1").post("/api/v1/agreement/", json={
        "checkin": world["checkin1"], "title": "共建协议", "starts_on": "2026-06-01", "ends_on": "2026-01-01"})
    assert response.status_code == 400
    assert list(response.json["message"]) == ["ends_on"]


def test_checkin_cannot_be_in_the_future(world, api):
    response = api("community1").post("/api/v1/unit_checkin/", json={
        "unit": world["unit1"], "area": world["g12"], "status": "registered", "registered_on": str(TOMORROW)})
    assert response.status_code == 400 and list(response.json["message"]) == ["registered_on"]


def test_confirmed_checkin_needs_confirmation_date_after_registration(world, api):
    client = api("community1")
    response = client.post("/api/v1/unit_checkin/", json={
        "unit": world["unit1"], "area": world["g12"], "status": "confirmed", "registered_on": str(TODAY)})
    assert response.status_code == 400 and "confirmed_on" in response.json["message"]
    response = client.post("/api/v1/unit_checkin/", json={
        "unit": world["unit1"], "area": world["g12"], "status": "confirmed",
        "registered_on": str(TODAY), "confirmed_on": str(TODAY - timedelta(days=3))})
    assert response.status_code == 400 and "confirmed_on" in response.json["message"]


@pytest.mark.parametrize("hours", [0, -1, 24.5, 100])
def test_service_hours_in_sane_range(hours, world, api):
    response = api("community1").post("/api/v1/service_record/", json={
        "member": world["m1"], "served_on": str(TODAY), "hours": hours, "content": "巡逻"})
    assert response.status_code == 400 and list(response.json["message"]) == ["hours"]


def test_service_record_needs_member_or_unit(world, api):
    response = api("community1").post("/api/v1/service_record/", json={
        "served_on": str(TODAY), "hours": 1, "content": "巡逻"})
    assert response.status_code == 400 and "member" in response.json["message"]


def test_rejection_needs_a_reason(world, api, app):
    from flask_babel import gettext

    created = api("community1").post("/api/v1/need/", json={"title": "修路灯", "category": "safety",
                                                            "area": world["c1"]})
    assert created.status_code == 201
    reviewer = api("street1")  # another person reviews, by the reject action (app/approvals/)
    response = reviewer.post(f"/api/v1/need/{created.json['id']}/reject", json={"reason": " "})
    assert response.status_code == 400 and list(response.json["message"]) == ["reason"]
    with app.test_request_context("/"):
        assert response.json["message"]["reason"] == [gettext("Give the reason for the rejection")] != \
            ["Give the reason for the rejection"]
    response = reviewer.post(f"/api/v1/need/{created.json['id']}/reject", json={"reason": "已列入市政计划"})
    assert response.status_code == 200

def test_member_without_checkin_cannot_be_graded_pass(world, api, app):
    from app.extensions import db
    from models import GradeOption

    with app.app_context():
        passing = db.session.query(GradeOption).filter_by(name="合格").one().id
        basic = db.session.query(GradeOption).filter_by(name="基本合格").one().id
    client = api("community2")
    newcomer = client.post("/api/v1/party_member/", json={"name": "未报到", "id_card": fake.id_card(region="650102"),
                                                          "area": world["g21"]}).json["id"]
    response = client.post("/api/v1/evaluation/", json={"period": "2026", "member": newcomer, "grade": passing})
    assert response.status_code == 400 and list(response.json["message"]) == ["grade"]
    response = client.post("/api/v1/evaluation/", json={"period": "2026", "member": newcomer, "grade": basic})
    assert response.status_code == 201, response.json


def test_evaluation_period_format(world, api, app):
    from app.extensions import db
    from models import GradeOption

    with app.app_context():
        grade = db.session.query(GradeOption).filter_by(name="合格").one().id
    response = api("community1").post("/api/v1/evaluation/", json={"period": "26-3", "member": world["m1"],
                                                                    "grade": grade})
    assert response.status_code == 400 and list(response.json["message"]) == ["period"]


def test_resolution_sign_off_needs_evidence_and_records_who(world, api):
    client = api("community1")
    created = client.post("/api/v1/resolution/", json={"meeting": world["meeting1"], "title": "楼道照明",
                                                       "lead_person": "田云", "deadline": str(TODAY)})
    pk = created.json["id"]
    refused = client.put(f"/api/v1/resolution/{pk}", json={"status": "done"})
    assert refused.status_code == 400 and list(refused.json["message"]) == ["evidence"]
    done = client.put(f"/api/v1/resolution/{pk}", json={"status": "done", "evidence": "已更换灯泡，附照片"})
    assert done.status_code == 200, done.json
    row = client.get(f"/api/v1/resolution/{pk}").json["result"]
    assert row["signed_off_by"] == "community1" and row["signed_off_at"]


def test_area_level_must_fit_its_parent(world, api):
    response = api("community1").post("/api/v1/area/", json={"parent": world["c1"], "level": "street",
                                                             "code": "650102001001077", "name": "错层"})
    assert response.status_code == 400 and "level" in response.json["message"]


def test_screen_and_api_give_the_same_message(world, api, browser):
    from app.core.formats import validate_date_order  # noqa: F401  (the rule both paths run)

    api_msg = api("community1").post("/api/v1/agreement/?_l_=en", json={
        "checkin": world["checkin1"], "title": "协议", "starts_on": "2026-06-01", "ends_on": "2026-01-01"}
    ).json["message"]["ends_on"][0]
    user = browser("community1")
    user.get("/lang/en")
    page = user.submit("/agreementview/add", {"checkin": str(world["checkin1"]), "title": "协议",
                                              "starts_on": "2026-06-01", "ends_on": "2026-01-01"})
    assert page.status_code == 200
    assert api_msg in page.get_data(as_text=True).replace("&#39;", "'").replace("&amp;", "&")


def test_screen_service_record_bad_hours_keeps_form(world, browser, app):
    user = browser("community1")
    page = user.submit("/servicerecordview/add", {"member": str(world["m1"]), "served_on": str(TODAY),
                                                  "hours": "30", "points": "0", "content": "义诊"})
    assert page.status_code == 200
    assert 'value="义诊"' in page.get_data(as_text=True)
    from app.extensions import db
    from models import ServiceRecord

    with app.app_context():
        assert db.session.query(ServiceRecord).filter_by(content="义诊").count() == 0


# --- a write hook's refusal on the screens: the error map's words, never SQL or a field code ---
SQL_WORDS = ("INSERT", "UPDATE", "DELETE FROM", "[SQL:", "constraint", "psycopg", "sqlite3")


def _after_write(user, response):
    """The page FAB's add, edit and delete lead to (a redirect: the refusal is flashed there)."""
    assert response.status_code == 302, response.status_code
    return user.get(response.headers["Location"]).get_data(as_text=True)


def test_screen_delete_refusal_says_the_reason_alone(world, browser, app):
    from app.extensions import db
    from models import PartyMember

    user = browser("community1")
    user.get("/lang/en")
    page = _after_write(user, user.post(f"/partymemberview/delete/{world['m1']}",
                                        with_token_from="/partymemberview/add"))
    assert "This record cannot be deleted while other records refer to it" in page
    assert "id: This record" not in page  # FAB flashed str(RecordInvalid): the field's code first
    with app.app_context():
        assert db.session.get(PartyMember, world["m1"]) is not None


@pytest.mark.parametrize("number", [2 ** 31, 2 ** 40, 2 ** 63, -(2 ** 31) - 1])
def test_screen_whole_number_past_its_column_is_a_field_error(world, browser, app, number):
    """A whole number past the column's type (PostgreSQL's integer is 32-bit; past 2**63 SQLite's
    driver overflows): the form comes back with the field's bounds, the same on both databases,
    never SQL or Python's words, and nothing is stored."""
    from app.extensions import db
    from models import Area

    user = browser("admin")
    user.get("/lang/en")
    form = {"parent": str(world["c1"]), "level": "grid", "code": "650102001001001", "name": "幸福社区第一网格",
            "grid_worker": "田云", "household_heads": str(number), "central_households": "", "note": ""}
    response = user.submit(f"/areaview/edit/{world['g11']}", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # the form again, with what was typed
    assert "Must be from -2147483648 to 2147483647" in page
    assert not any(word in page for word in SQL_WORDS + ("OverflowError", "too large"))
    with app.app_context():
        assert db.session.get(Area, world["g11"]).household_heads != number


def test_a_record_others_refer_to_is_not_deleted_and_the_message_names_them(world, api, app):
    """A unit with members and check-ins stays, and the refusal says in Chinese which records refer
    to it; a unit nothing refers to is deleted; a meeting's own links to its units go with it (the
    link table does not count as a record referring to the meeting)."""
    from flask_babel import gettext
    from sqlalchemy import func, select

    from app.core.actor import acting_as
    from app.core.labels import table_label
    from app.extensions import db
    from models import Area, Meeting, MeetingType, Unit

    with app.app_context():
        with acting_as(None, via="test"):
            c1 = db.session.get(Area, world["c1"])
            spare = Unit(name="无人引用的单位", unit_type="soe", area=c1, member_count=1)
            meeting = Meeting(meeting_type=db.session.query(MeetingType).first(), title="只有参会单位的会议",
                              area=c1, convener="何涛", held_at=date.today() - timedelta(1),
                              units=[db.session.get(Unit, world["unit1"])])
            db.session.add_all([spare, meeting])
            db.session.commit()
            spare_id, meeting_id = spare.id, meeting.id
        db.session.remove()
    refused = api("orgdept").delete(f"/api/v1/unit/{world['unit1']}")
    assert refused.status_code == 400
    [reason] = refused.json["message"]["id"]
    with app.test_request_context("/"):
        named = [str(table_label(name)) for name in ("party_member", "unit_checkin", "meeting_unit", "agreement")]
        assert reason.startswith(gettext("This record cannot be deleted while other records refer to it (%(table)s); "
                                         "remove or move those first", table="")[:8])
    assert any(label in reason for label in named), reason
    assert api("orgdept").delete(f"/api/v1/unit/{spare_id}").status_code == 200
    assert api("community1").delete(f"/api/v1/meeting/{meeting_id}").status_code == 200
    with app.app_context():
        assert db.session.execute(select(func.count(Unit.id)).where(Unit.id.in_([world["unit1"], spare_id]))
                                  ).scalar_one() == 1
        assert db.session.get(Meeting, meeting_id) is None
        db.session.remove()
