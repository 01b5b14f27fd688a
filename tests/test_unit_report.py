"""Units' quarterly co-building reports (单位季度共建情况报告): created through the API and the
screen, the unit following the check-in, one report per check-in and quarter, the format and
date rules, the liaison's and the community admin's scope, the tab on the check-in's page and the
export of the list. The reminder that chases missing reports is tested in test_reminders.py."""
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.statistics.definitions import quarter_of
from tests.test_exports import export_rows

URL = "/api/v1/unit_report/"
# The day the tests run on: in 2026Q4, whose report is not in yet; the world (tests/factories.py)
# holds each check-in's 2026Q3 report.
TODAY = date(2026, 11, 20)
QUARTER = quarter_of(TODAY)[0]
NEXT_QUARTER = quarter_of(quarter_of(TODAY)[2] + timedelta(days=1))[0]
pytestmark = pytest.mark.today(TODAY)


def report(checkin_id, **values):
    return {"checkin": checkin_id, "quarter": QUARTER, "submitted_on": TODAY.isoformat(),
            "summary": "开展共建活动三次：清理卫生死角、捐赠图书", "activities": 3, "people_served": 120,
            **values}


def stored(app, report_id):
    from models import UnitReport

    with app.app_context():
        row = db.session.get(UnitReport, report_id)
        return None if row is None else (row.unit_id, row.area_id, row.community_id, row.quarter)


def count_reports(app, **where):
    from models import UnitReport

    with app.app_context():
        return len(db.session.execute(select(UnitReport.id).filter_by(**where)).all())


def test_api_creates_a_report_whose_unit_and_area_follow_the_checkin(app, world, api):
    response = api("community1").post(URL, json=report(world["checkin1"], quarter=QUARTER.lower()))
    assert response.status_code == 201, response.json
    assert stored(app, response.json["id"]) == (world["unit1"], world["c1"], world["c1"], QUARTER)
    shown = api("community1").get(f"{URL}{response.json['id']}").json["result"]
    assert shown["unit_id"] == world["unit1"] and shown["summary"].startswith("开展共建活动")


def test_a_second_report_for_the_same_quarter_is_refused(app, world, api):
    client = api("community1")
    first = client.post(URL, json=report(world["checkin1"]))
    assert first.status_code == 201
    again = client.post(URL, json=report(world["checkin1"], summary="重复"))
    assert again.status_code == 400 and "quarter" in again.json["message"], again.json
    assert count_reports(app, checkin_id=world["checkin1"], quarter=QUARTER) == 1
    # Editing the one report keeps its quarter without tripping over itself.
    edited = client.put(f"{URL}{first.json['id']}", json={"summary": "补充说明", "quarter": QUARTER})
    assert edited.status_code == 200, edited.json
    assert client.delete(f"{URL}{first.json['id']}").status_code == 200
    assert client.get(f"{URL}{first.json['id']}").status_code == 404


def test_bad_values_answer_400_naming_the_field(app, world, api):
    client = api("community1")
    cases = {
        "quarter": [{"quarter": "2026Q5"}, {"quarter": "26Q1"}, {"quarter": NEXT_QUARTER}],
        "submitted_on": [{"submitted_on": (TODAY + timedelta(days=1)).isoformat()}],
        "activities": [{"activities": -1}],
        "people_served": [{"people_served": -5}],
        "summary": [{"summary": None}],
    }
    for field, variants in cases.items():
        for values in variants:
            response = client.post(URL + "?_l_=en", json=report(world["checkin1"], **values))
            assert response.status_code == 400 and field in response.json["message"], (values, response.json)
    assert count_reports(app) == 2  # the two of tests/factories.py


def test_a_liaison_reports_for_their_own_unit_only(app, world, api):
    client = api("liaison1")
    mine = client.post(URL, json=report(world["checkin1"], submitted_by="王强"))
    assert mine.status_code == 201, mine.json
    assert stored(app, mine.json["id"])[0] == world["unit1"]
    other = client.post(URL + "?_l_=en", json=report(world["checkin2"]))
    assert other.status_code == 400, other.json
    assert set(other.json["message"]) & {"unit", "checkin"}, other.json
    assert count_reports(app, checkin_id=world["checkin2"], quarter=QUARTER) == 0
    listed = client.get(URL).json["result"]
    assert {row["unit_id"] for row in listed} == {world["unit1"]}


def test_a_community_admin_sees_only_their_communitys_reports(app, world, api):
    from models import UnitReport

    with app.app_context():
        theirs = db.session.execute(select(UnitReport.id).where(UnitReport.checkin_id == world["checkin2"])).scalar()
    listed = api("community1").get(URL).json
    assert {row["community_id"] for row in listed["result"]} == {world["c1"]} and listed["count"] == 1
    assert api("community1").get(f"{URL}{theirs}").status_code == 404
    assert api("community2").get(f"{URL}{theirs}").status_code == 200


def test_screen_adds_a_report_and_shows_a_duplicate_on_the_form(app, world, browser):
    user = browser("community1")
    user.get("/lang/en")
    form = {"checkin": str(world["checkin1"]), "quarter": QUARTER, "submitted_on": TODAY.isoformat(),
            "summary": "屏幕录入的季度报告", "activities": "2"}
    created = user.submit("/unitreportview/add", {**form, "file": (io.BytesIO(b"%PDF-1.4 report"), "report.pdf")})
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    assert count_reports(app, checkin_id=world["checkin1"], quarter=QUARTER) == 1
    from models import UnitReport

    with app.app_context():
        saved = db.session.execute(select(UnitReport).where(UnitReport.checkin_id == world["checkin1"],
                                                            UnitReport.quarter == QUARTER)).scalar_one()
        saved_id, saved_file, saved_unit = saved.id, saved.file, saved.unit_id
    assert saved_unit == world["unit1"] and saved_file and saved_file.endswith("report.pdf")
    assert user.get(f"/unitreportview/download/{saved_file}").data == b"%PDF-1.4 report"
    assert "屏幕录入的季度报告" in user.get(f"/unitreportview/show/{saved_id}").get_data(as_text=True)
    again = user.submit("/unitreportview/add", {**form, "summary": "第二份"})
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and "already has a report for" in html
    assert 'value="第二份"' in html or "第二份" in html  # the user keeps what they typed
    assert count_reports(app, checkin_id=world["checkin1"], quarter=QUARTER) == 1


def test_the_checkins_page_has_a_reports_tab(app, world, browser):
    html = browser("community1").get(f"/unitcheckinview/show/{world['checkin1']}").get_data(as_text=True)
    assert "2026Q3" in html  # the report of tests/factories.py
    assert browser("community1").get("/unitreportview/list/").status_code == 200


def test_the_list_exports_for_the_users_scope(app, world, api):
    api("community1").post(URL, json=report(world["checkin1"]))
    job, rows = export_rows(api, "community1", "unit_report")
    assert job["row_count"] == 2
    assert {row[0] for row in rows[1:]} == {"2026Q3", QUARTER}
    _job, rows = export_rows(api, "liaison1", "unit_report")
    assert len(rows) == 3
