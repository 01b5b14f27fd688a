"""Statistics reports (issue 6, item 5): the figures of a small district computed by hand, the
scope (a community admin's report holds only their community; an out-of-scope area is refused),
the threshold flag and the ranking, the formatted XLSX, the screen with its export job, the REST
resource, the permissions of every role, and the home-page dashboard.

The ``district`` fixture extends the ``world`` of tests/factories.py (two streets, one community
each) with units and members whose check-ins, service records, resolutions and grades give the
figures written out in ``EXPECTED`` comments below. Dates are relative to ``TODAY``, the day the
tests run on (the clock is pinned to it, and the world is dated from it too); the period is the
81 days ``D(-60)``..``D(20)``, so the quarterly quota (2 activities, 4 hours, 4 points) applies.
"""
import os
import re
import zipfile
from datetime import date, datetime, time, timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from app.core.actor import acting_as
from app.core.roles import ROLES
from app.core.scope import scope_for
from app.extensions import db
from app.statistics import definitions
from app.statistics.catalogue import REPORTS, compute
from app.statistics.context import ReportParamError, make_context
from app.statistics.figures import dashboard_figures
from app.statistics.tables import _rank, area_rates
from app.statistics.workbook import write_report_xlsx
from tests.factories import fake, member, user

TODAY = date(2026, 11, 20)  # in 2026Q4: the home page's quarter is 2026-10-01..2026-12-31
pytestmark = pytest.mark.today(TODAY)
PERIOD = {"start": (TODAY - timedelta(days=60)).isoformat(), "end": (TODAY + timedelta(days=20)).isoformat()}
YEAR_2025 = {"start": "2025-01-01", "end": "2025-12-31"}
ROLE_USERS = {"Admin": "admin", "SecurityAdmin": "security", "OrgDept": "orgdept", "Auditor": "auditor",
              "StreetAdmin": "street1", "CommunityAdmin": "community1", "UnitLiaison": "liaison1",
              "Public": "nobody"}


def D(days):
    return TODAY + timedelta(days=days)


def at(days, hour=10):
    return datetime.combine(D(days), time(hour))


def _set_quota(name, **values):
    from models import ServiceQuota

    row = db.session.execute(select(ServiceQuota).where(ServiceQuota.name == name)).scalar_one()
    before = {k: getattr(row, k) for k in values}
    for key, value in values.items():
        setattr(row, key, value)
    return before


def _add_checkin(person, status, registered, confirmed=None, valid_until=None):
    from models import MemberCheckin

    db.session.add(MemberCheckin(member=person, area=person.area, status=status, registered_on=D(registered),
                                 confirmed_on=D(confirmed) if confirmed is not None else None,
                                 valid_until=D(valid_until) if valid_until is not None else None))


def _serve(person, days, hours):
    from models import ServiceRecord

    db.session.add(ServiceRecord(member=person, served_on=D(days), hours=hours, points=hours, content="志愿服务"))


@pytest.fixture
def district(app, world):
    """The world plus: units 3–5, members m3–m9 with check-ins and service, a third and a fourth
    meeting with resolutions, and grades. Returns the ids (world's included)."""
    from models import Area, Evaluation, GradeOption, Meeting, MeetingType, PartyMember, Resolution, Unit, UnitCheckin

    with app.app_context():
        with acting_as(None, via="test"):
            saved = {"季度指标": _set_quota("季度指标", period="quarter", min_activities=2, min_hours=4,
                                         min_points=4, active=True),
                     "年度指标": _set_quota("年度指标", period="year", active=True)}
            area = {key: db.session.get(Area, world[key]) for key in ("c1", "c2", "g11", "g12", "g21")}
            unit2 = db.session.get(Unit, world["unit2"])
            m1 = db.session.get(PartyMember, world["m1"])
            unit3 = Unit(name="幸福物业服务有限公司", unit_type="private", area=area["g12"], member_count=4,
                         credit_code=fake.credit_code())
            unit4 = Unit(name="和平中学", unit_type="institution", area=area["c2"], member_count=2,
                         credit_code=fake.credit_code())
            unit5 = Unit(name="幸福农商银行", unit_type="soe", area=area["g11"], member_count=1,
                         credit_code=fake.credit_code())
            db.session.add_all([unit3, unit4, unit5])
            db.session.add(UnitCheckin(unit=unit3, area=area["c1"], status="confirmed", registered_on=D(-45),
                                       confirmed_on=D(-40)))
            m3 = member(area["g12"], unit3, name="王芳")
            m4 = member(area["g11"], unit3, name="赵军")
            m5 = member(area["g12"], unit3, name="孙燕")
            m6 = member(area["g12"], unit3, name="周涛")
            m7 = member(area["g21"], unit2, name="吴刚")
            m8 = member(area["g21"], unit2, name="郑洁")
            m9 = member(area["g11"], unit5, name="冯雪")
            db.session.flush()
            _add_checkin(m3, "confirmed", -52, -50, 100)  # counts
            _add_checkin(m4, "expired", -205, -200, -70)  # lapsed before the period: does not count
            _add_checkin(m5, "expired", -155, -150, -30)  # valid into the period: counts
            _add_checkin(m6, "registered", -3)  # never confirmed: does not count
            _add_checkin(m7, "confirmed", -300, -298, -61)  # re-registration due before the period
            _add_checkin(m8, "confirmed", -16, -15)  # counts
            _add_checkin(m9, "confirmed", -20, -18)  # counts
            _serve(m1, -10, 3)  # + the world's 2 h on D(-2): 2 activities, 5 h → meets the quota
            _serve(m3, -20, 5)  # 1 activity → does not
            _serve(m3, -90, 10)  # outside the period
            _serve(m4, -5, 3)
            _serve(m4, -6, 3)  # not checked in: never counted
            _serve(m5, -25, 2)
            _serve(m5, -26, 2)  # 2 activities, 4 h → meets
            _serve(m8, -8, 2)
            _serve(m8, -9, 2)  # meets
            mtype = db.session.execute(select(MeetingType).where(MeetingType.name == "圆桌会议")).scalar_one()
            meeting3 = Meeting(meeting_type=mtype, title="幸福社区第一网格板凳会", area=area["g11"], convener="何涛",
                               held_at=at(-30))
            meeting4 = Meeting(meeting_type=mtype, title="幸福社区往期议事会", area=area["c1"], convener="何涛",
                               held_at=at(-90))
            db.session.add_all([meeting3, meeting4])
            r3 = Resolution(meeting=meeting3, title="修缮路灯", lead_person="田云", deadline=D(-10), status="done")
            r4 = Resolution(meeting=meeting3, title="清理楼道杂物", lead_person="田云", deadline=D(-1),
                            status="in_progress")
            r6 = Resolution(meeting=meeting4, title="补种绿化", lead_person="田云", deadline=D(-80), status="done")
            db.session.add_all([r3, r4, r6])
            db.session.flush()
            r3.signed_off_at, r6.signed_off_at = at(-2, 16), at(-81, 16)
            grades = {g.name: g for g in db.session.execute(select(GradeOption)).scalars()}
            db.session.add_all([
                Evaluation(period="2025", member=m3, grade=grades["优秀"], letter_state="sent"),
                Evaluation(period="2025Q4", member=m5, grade=grades["合格"], letter_state="received"),
                Evaluation(period="2026", member=m8, grade=grades["优秀"]),
            ])
            db.session.commit()
            ids = dict(world, unit3=unit3.id, unit4=unit4.id, unit5=unit5.id, m3=m3.id, m4=m4.id, m5=m5.id,
                       m6=m6.id, m7=m7.id, m8=m8.id, m9=m9.id, meeting3=meeting3.id, meeting4=meeting4.id,
                       id_cards=[p.id_card for p in (m1, m3, m4, m5, m6)])
        db.session.remove()
    yield ids
    with app.app_context():
        with acting_as(None, via="test"):
            for name, values in saved.items():
                _set_quota(name, **values)
            db.session.commit()


def as_user(app, username, function, *args, **kwargs):
    """Run ``function`` in an app context acting as ``username`` (the export runner's way)."""
    with app.app_context():
        with acting_as(user(app, username), via="test"):
            return function(*args, **kwargs)


def rows_of(app, username, name, params):
    return as_user(app, username, lambda: compute(name, make_context(params)))


def by(rows, key, value):
    found = [row for row in rows if row[key] == value]
    assert len(found) == 1, (key, value, rows)
    return found[0]


def approx(value, expected):
    return value is not None and abs(value - expected) < 1e-9


# ---- the figures, computed by hand ------------------------------------------------------------


def test_checkin_and_completion_by_area(app, district):
    rows = rows_of(app, "orgdept", "area_rates", PERIOD)
    assert [(r["_level"], r["street"], r["community"]) for r in rows] == [
        ("street", "幸福街道", ""), ("community", "幸福街道", "幸福社区"),
        ("street", "和平街道", ""), ("community", "和平街道", "和平社区"), ("total", "", "")]
    c1 = by(rows, "community", "幸福社区")
    # Units located in 幸福社区: unit1 (confirmed), unit3 (confirmed), unit5 (none) → 2 / 3.
    assert (c1["units"], c1["units_checked_in"]) == (3, 2) and approx(c1["unit_rate"], 2 / 3)
    # Members living there: m1 m3 m4 m5 m6 m9; checked in m1 m3 m5 m9 → 4 / 6; met quota m1 m5 → 2 / 4.
    assert (c1["members"], c1["members_checked_in"], c1["members_met_quota"]) == (6, 4, 2)
    assert approx(c1["member_rate"], 4 / 6) and approx(c1["completion_rate"], 0.5)
    c2 = by(rows, "community", "和平社区")
    assert (c2["units"], c2["units_checked_in"], c2["unit_rate"]) == (2, 0, 0.0)
    assert (c2["members"], c2["members_checked_in"], c2["members_met_quota"]) == (3, 1, 1)
    assert approx(c2["member_rate"], 1 / 3) and approx(c2["completion_rate"], 1.0)
    street1 = rows[0]
    assert {k: street1[k] for k in ("units", "members", "members_checked_in")} == {"units": 3, "members": 6,
                                                                                   "members_checked_in": 4}
    total = rows[-1]
    assert (total["units"], total["units_checked_in"], total["members"], total["members_checked_in"],
            total["members_met_quota"]) == (5, 2, 9, 5, 3)
    assert approx(total["member_rate"], 5 / 9) and approx(total["completion_rate"], 3 / 5)
    assert approx(total["unit_rate"], 2 / 5)
    assert (c1["rank"], c2["rank"], total["rank"]) == (1, 2, None)


def test_unit_ranking_and_threshold_flag(app, district):
    rows = rows_of(app, "orgdept", "unit_rates", PERIOD)
    assert [(r["rank"], r["unit"]) for r in rows] == [
        (1, "幸福农商银行"), (2, "幸福物业服务有限公司"), (3, "天山区市场监督管理局"), (4, "和平供电公司"), (5, "和平中学")]
    bank, estate, bureau, power, school = rows
    assert approx(bank["member_rate"], 1.0) and not bank["flagged"] and bank["completion_rate"] == 0.0
    # unit3 declares 4 members, 4 on record, 2 checked in (m3, m5), 1 met the quota (m5).
    assert (estate["declared_members"], estate["members"], estate["members_checked_in"]) == (4, 4, 2)
    assert approx(estate["member_rate"], 0.5) and approx(estate["completion_rate"], 0.5) and estate["flagged"]
    # The bureau declares 30 members: one on record, checked in → 1 / 30 (declared count wins).
    assert approx(bureau["member_rate"], 1 / 30) and bureau["checked_in_to"] == "幸福社区"
    assert approx(power["member_rate"], 1 / 80) and power["checked_in_to"] == ""
    assert school["member_rate"] == 0.0 and school["completion_rate"] is None and school["flagged"]
    flagged = rows_of(app, "orgdept", "flagged_units", PERIOD)
    assert [r["unit"] for r in flagged] == ["幸福物业服务有限公司", "天山区市场监督管理局", "和平供电公司", "和平中学"]


def test_threshold_is_a_setting(app, district):
    from models import Setting

    with app.app_context():
        with acting_as(None, via="test"):
            setting = db.session.execute(select(Setting).where(Setting.key == "checkin_rate_threshold")).scalar_one()
            old, setting.value = setting.value, "50"
            db.session.commit()
    try:
        units = rows_of(app, "orgdept", "unit_rates", PERIOD)
        assert [r["unit"] for r in units if r["flagged"]] == ["天山区市场监督管理局", "和平供电公司", "和平中学"]
        areas = rows_of(app, "orgdept", "area_rates", PERIOD)
        assert not by(areas, "community", "幸福社区")["flagged"] and by(areas, "community", "和平社区")["flagged"]
    finally:
        with app.app_context():
            with acting_as(None, via="test"):
                row = db.session.execute(select(Setting).where(Setting.key == "checkin_rate_threshold")).scalar_one()
                row.value = old
                db.session.commit()


def test_ranking_shares_places_on_ties():
    rows = [{"r": 0.5}, {"r": 0.9}, {"r": 0.5}, {"r": None}, {"r": 0.1}]
    _rank(rows, "r")
    assert [row["rank"] for row in rows] == [2, 1, 2, None, 4]


def test_closure_by_area_and_meeting(app, district):
    rows = rows_of(app, "orgdept", "closure_areas", PERIOD)
    c1, c2, total = by(rows, "community", "幸福社区"), by(rows, "community", "和平社区"), rows[-1]
    # 幸福社区: r1 (open), r3 (signed off D(-2)), r4 (deadline D(-1), not closed → overdue); meeting4 is
    # outside the period. 和平社区: the world's overdue resolution.
    assert (c1["resolutions"], c1["closed"], c1["overdue"]) == (3, 1, 1) and approx(c1["closure_rate"], 1 / 3)
    assert (c2["resolutions"], c2["closed"], c2["overdue"], c2["closure_rate"]) == (1, 0, 1, 0.0)
    assert (total["resolutions"], total["closed"], total["overdue"]) == (4, 1, 2) and approx(total["closure_rate"], .25)
    assert (c1["rank"], c2["rank"]) == (1, 2)
    meetings = rows_of(app, "orgdept", "closure_meetings", PERIOD)
    figures = {r["meeting"]: (r["resolutions"], r["closed"], r["overdue"]) for r in meetings}
    assert figures == {"幸福社区圆桌会议": (1, 0, 0), "和平社区圆桌会议": (1, 0, 1), "幸福社区第一网格板凳会": (2, 1, 1)}
    assert meetings[-1]["meeting"] == "幸福社区第一网格板凳会" and meetings[-1]["community"] == "幸福社区"


def test_closure_is_judged_at_the_end_of_a_past_period(app, district):
    past = {"start": PERIOD["start"], "end": D(-5).isoformat()}
    total = rows_of(app, "orgdept", "closure_areas", past)[-1]
    # r3 was signed off after the period (not closed then) and was past its deadline D(-10) by D(-5);
    # r4 (D(-1)) and the world's r2 (D(-3)) were not yet overdue on D(-5).
    assert (total["resolutions"], total["closed"], total["overdue"]) == (4, 0, 1)


def test_grade_summary(app, district):
    rows = rows_of(app, "orgdept", "grades", YEAR_2025)
    counts = {r["grade"]: (r["evaluations"], r["letters_sent"]) for r in rows}
    # 2025: m1, m2 基本合格 (world), m3 优秀 (sent), m5 合格 in 2025Q4 (received); m8's 2026 grade is out.
    assert counts["优秀"] == (1, 1) and counts["合格"] == (1, 1) and counts["基本合格"] == (2, 0)
    assert counts["不合格"] == (0, 0) and rows[-1]["evaluations"] == 4 and rows[-1]["letters_sent"] == 2
    assert approx(by(rows, "grade", "基本合格")["share"], 0.5)
    mine = rows_of(app, "community1", "grades", YEAR_2025)
    assert {r["grade"]: r["evaluations"] for r in mine}["基本合格"] == 1 and mine[-1]["evaluations"] == 3
    assert rows_of(app, "orgdept", "grades", PERIOD)[-1]["evaluations"] == 0  # no whole period inside


def test_evaluation_periods_and_quarters():
    assert definitions.evaluation_periods(date(2025, 1, 1), date(2025, 12, 31)) == [
        "2025", "2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert definitions.evaluation_periods(date(2026, 7, 1), date(2026, 9, 30)) == ["2026Q3"]
    assert definitions.evaluation_periods(date(2026, 7, 2), date(2026, 9, 30)) == []
    assert definitions.quarter_bounds(date(2026, 11, 23)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert definitions.quarter_bounds(date(2026, 2, 1)) == (date(2026, 1, 1), date(2026, 3, 31))


def test_quota_follows_the_period_length(app, district):
    with app.app_context():
        assert definitions.applicable_quota(D(-60), D(20)).name == "季度指标"
        assert definitions.applicable_quota(date(2025, 1, 1), date(2025, 12, 31)).name == "年度指标"


# ---- scope ---------------------------------------------------------------------------------------


def test_community_admin_sees_only_their_community(app, district):
    rows = rows_of(app, "community1", "area_rates", PERIOD)
    assert [(r["_level"], r["community"]) for r in rows] == [("community", "幸福社区"), ("total", "")]
    assert (rows[-1]["members"], rows[-1]["members_checked_in"], rows[-1]["units"]) == (6, 4, 3)
    units = rows_of(app, "community1", "unit_rates", PERIOD)
    assert {r["unit"] for r in units} == {"幸福农商银行", "幸福物业服务有限公司", "天山区市场监督管理局"}
    # Below the district, a unit's rate is over its members on record there (the bureau: 1 of 1).
    bureau = by(units, "unit", "天山区市场监督管理局")
    assert (bureau["members"], bureau["member_rate"], bureau["flagged"]) == (1, 1.0, False)
    assert by(units, "unit", "幸福物业服务有限公司")["member_rate"] == 0.5
    closure = rows_of(app, "community1", "closure_areas", PERIOD)
    assert closure[-1]["resolutions"] == 3
    assert {r["meeting"] for r in rows_of(app, "community1", "closure_meetings", PERIOD)} == {
        "幸福社区圆桌会议", "幸福社区第一网格板凳会"}
    other = rows_of(app, "community2", "unit_rates", PERIOD)
    assert [r["unit"] for r in other] == ["和平供电公司", "和平中学"]


def test_an_area_narrows_the_report_and_out_of_scope_areas_are_refused(app, district):
    rows = rows_of(app, "street1", "area_rates", dict(PERIOD, area_id=district["c1"]))
    assert [r["community"] for r in rows if r["_level"] == "community"] == ["幸福社区"]
    rows = rows_of(app, "orgdept", "area_rates", dict(PERIOD, area_id=district["street2"]))
    assert [(r["_level"], r["street"]) for r in rows][0] == ("street", "和平街道") and rows[-1]["members"] == 3
    messages = set()
    for area_id in (district["c2"], district["street2"], 987654):
        with pytest.raises(ReportParamError) as refused:
            rows_of(app, "community1", "area_rates", dict(PERIOD, area_id=area_id))
        assert refused.value.field == "area_id"
        messages.add(refused.value.message)
    assert len(messages) == 1  # an existing area outside the scope reads like a missing one
    with app.app_context():
        with acting_as(user(app, "community1"), via="test"):
            assert make_context(PERIOD).area_label() == "幸福社区"


@pytest.mark.parametrize("params,field", [
    ({"start": "2026-13-01"}, "start"), ({"end": "yesterday"}, "end"),
    ({"start": "2026-10-01", "end": "2026-09-30"}, "end"), ({"area_id": "abc"}, "area_id")])
def test_bad_parameters_name_the_field(app, district, params, field):
    with pytest.raises(ReportParamError) as refused:
        rows_of(app, "orgdept", "area_rates", params)
    assert refused.value.field == field


# ---- XLSX ----------------------------------------------------------------------------------------

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def read_xlsx(path):
    """{sheet name: {"cells": {ref: (value, number format, fill id)}, "xml": text}} from the raw XML."""
    book = zipfile.ZipFile(path)
    shared = [("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")))
              for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", NS)]
    styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    formats = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iter(f"{{{NS['m']}}}numFmt")}
    xfs = [(formats.get(int(x.get("numFmtId", 0)), x.get("numFmtId")), int(x.get("fillId", 0)))
           for x in styles.find("m:cellXfs", NS)]
    names = [s.get("name") for s in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{{{NS['m']}}}sheet")]
    sheets = {}
    for index, name in enumerate(names, start=1):
        xml = book.read(f"xl/worksheets/sheet{index}.xml").decode()
        cells = {}
        for c in ElementTree.fromstring(xml).iter(f"{{{NS['m']}}}c"):
            v = c.find("m:v", NS)
            value = None if v is None else shared[int(v.text)] if c.get("t") == "s" else float(v.text)
            cells[c.get("r")] = (value,) + xfs[int(c.get("s", 0))]
        sheets[name] = {"cells": cells, "xml": xml}
    return sheets


def column_letter(index):
    return chr(ord("A") + index)


def test_xlsx_of_a_report(app, district, tmp_path):
    path = tmp_path / "areas.xlsx"
    calls = []
    written = as_user(app, "orgdept", write_report_xlsx, "area_rates", PERIOD, str(path),
                      lambda done, total: calls.append((done, total)))
    assert written == 5 and calls[0] == (0, 5) and calls[-1] == (5, 5)
    (sheet,) = read_xlsx(path).values()
    cells = sheet["cells"]
    report = REPORTS["area_rates"]
    with app.app_context():
        title, labels = str(report.title), [str(c.label) for c in report.columns]
    assert cells["A1"][0] == title and PERIOD["start"] in cells["A2"][0] and "95" in cells["A2"][0]
    assert [cells[f"{column_letter(i)}4"][0] for i in range(len(labels))] == labels
    keys = [c.key for c in report.columns]
    community_row = next(r for r in range(5, 10) if cells[f"C{r}"][0] == "幸福社区")
    member_rate = cells[f"{column_letter(keys.index('member_rate'))}{community_row}"]
    assert abs(member_rate[0] - 4 / 6) < 1e-9 and member_rate[1] == "0.00%"
    units = cells[f"{column_letter(keys.index('units'))}{community_row}"]
    assert units[0] == 3.0 and units[1] != "0.00%"
    assert member_rate[2] != 0  # flagged (under 95%): highlighted
    assert '<pane ySplit="4"' in sheet["xml"] and 'topLeftCell="A5"' in sheet["xml"]
    assert "<cols>" in sheet["xml"]


def test_xlsx_of_all_reports_has_one_sheet_each(app, district, tmp_path):
    path = tmp_path / "all.xlsx"
    written = as_user(app, "community1", write_report_xlsx, "all", PERIOD, str(path), None)
    sheets = read_xlsx(path)
    assert len(sheets) == len(REPORTS)
    text = " ".join(str(v[0]) for s in sheets.values() for v in s["cells"].values())
    assert "幸福社区" in text and "和平社区" not in text and "和平中学" not in text
    assert written == sum(len(rows_of(app, "community1", n, PERIOD)) for n in REPORTS)


def test_xlsx_unflagged_rows_are_plain(app, district, tmp_path):
    path = tmp_path / "units.xlsx"
    as_user(app, "orgdept", write_report_xlsx, "unit_rates", PERIOD, str(path), None)
    cells = next(iter(read_xlsx(path).values()))["cells"]
    assert cells["B5"][0] == "幸福农商银行" and cells["B5"][2] == 0  # 100%: not highlighted
    assert cells["B6"][0] == "幸福物业服务有限公司" and cells["B6"][2] != 0


# ---- the screen, the export job, the API ----------------------------------------------------------


def query(params):
    return "&".join(f"{k}={v}" for k, v in params.items())


def test_screen_shows_the_report_with_flags(app, district, browser):
    page = browser("orgdept").get(f"/reports/?report=unit_rates&{query(PERIOD)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "幸福物业服务有限公司" in html and "50.00%" in html and 'data-flagged="1"' in html
    assert f"/reports/letter/{district['unit3']}?" in html
    areas = browser("orgdept").get(f"/reports/?{query(PERIOD)}").get_data(as_text=True)
    assert "66.67%" in areas and "和平社区" in areas


def test_screen_of_a_community_admin_and_refusals(app, district, browser):
    client = browser("community1")
    html = client.get(f"/reports/?{query(PERIOD)}").get_data(as_text=True)
    assert "幸福社区" in html and "和平社区" not in html and "和平街道" not in html
    refused = client.get(f"/reports/?{query(PERIOD)}&area_id={district['c2']}")
    assert refused.status_code == 400 and 'data-error="area_id"' in refused.get_data(as_text=True)
    assert "和平社区" not in refused.get_data(as_text=True)
    bad = client.get("/reports/?start=2026-02-30")
    assert bad.status_code == 400 and 'data-error="start"' in bad.get_data(as_text=True)
    assert client.get("/reports/?report=nope").status_code == 404


def test_export_button_starts_a_report_job(app, district, browser):
    from models import ExportJob

    client = browser("community1")
    response = client.post("/reports/export", data={"report": "area_rates", **PERIOD},
                           with_token_from="/reports/")
    assert response.status_code == 302 and "/exportjobview/list" in response.headers["Location"]
    with app.app_context():
        job = db.session.execute(select(ExportJob).order_by(ExportJob.id.desc())).scalars().first()
        assert (job.kind, job.resource, job.format, job.state) == ("report", "area_rates", "xlsx", "done"), job.error
        assert job.row_count == 2  # 幸福社区 and the total: the requester's scope
        sheet = next(iter(read_xlsx(os.path.join(app.config["DATA_DIR"], job.file_path)).values()))
        assert "和平社区" not in sheet["xml"]
    assert client.post("/reports/export", data={"report": "area_rates", **PERIOD}).status_code == 400  # no CSRF
    refused = client.post("/reports/export", data={"report": "area_rates", "area_id": district["c2"], **PERIOD},
                          with_token_from="/reports/")
    assert refused.status_code == 400


def test_api_gives_the_rows(app, district, api):
    client = api("orgdept")
    response = client.get(f"/api/v1/report/area_rates?{query(PERIOD)}")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["count"] == 5 and body["threshold"] == 95.0 and body["quota"]["min_activities"] == 2
    c1 = next(r for r in body["result"] if r["community"] == "幸福社区")
    assert c1["member_rate"] == 0.6667 and c1["flagged"] is True and c1["rank"] == 1
    assert [c["key"] for c in body["columns"]] == [c.key for c in REPORTS["area_rates"].columns]
    listed = client.get("/api/v1/report/")
    assert {r["name"] for r in listed.json["result"]} == set(REPORTS)
    meetings = client.get(f"/api/v1/report/closure_meetings?{query(PERIOD)}").json["result"]
    assert all(re.match(r"\d{4}-\d\d-\d\d$", r["held_on"]) for r in meetings)


def test_api_refuses_bad_input_by_field(app, district, api):
    client = api("community1")
    out = client.get(f"/api/v1/report/area_rates?{query(PERIOD)}&area_id={district['c2']}")
    assert out.status_code == 400 and "area_id" in out.json["message"]
    assert "和平" not in out.get_data(as_text=True)
    assert "start" in client.get("/api/v1/report/area_rates?start=2026-1-99").json["message"]
    assert "end" in client.get("/api/v1/report/area_rates?start=2026-10-01&end=2026-01-01").json["message"]
    assert client.get("/api/v1/report/nope").status_code == 404
    rows = client.get(f"/api/v1/report/unit_rates?{query(PERIOD)}").json["result"]
    assert {r["unit"] for r in rows} == {"幸福农商银行", "幸福物业服务有限公司", "天山区市场监督管理局"}


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_report_permissions_follow_the_roles(role, app, district, browser, api):
    allowed = ("can_read", "Report") in ROLES[role]
    assert allowed == (role in ("Admin", "OrgDept", "Auditor", "StreetAdmin", "CommunityAdmin"))
    page = browser(ROLE_USERS[role]).get("/reports/")
    assert page.status_code == 200 if allowed else page.status_code in (302, 403), role
    letter = browser(ROLE_USERS[role]).get(f"/reports/letter/{district['unit1']}?fmt=docx")
    assert letter.status_code == 200 if allowed else letter.status_code in (302, 403), role
    if role != "Public":
        assert api(ROLE_USERS[role]).get("/api/v1/report/area_rates").status_code == (200 if allowed else 403), role


def test_menu_offers_the_reports_to_readers_only(app, district, browser):
    assert "/reports/" in browser("orgdept").get("/").get_data(as_text=True)
    assert "/reports/" not in browser("liaison1").get("/").get_data(as_text=True)


# ---- dashboard -------------------------------------------------------------------------------------


def test_home_page_shows_the_quarter_rates_of_the_users_area(app, district, browser):
    for username in ("orgdept", "community1"):
        figures = as_user(app, username, lambda u=username: dashboard_figures(user(app, u)))
        html = browser(username).get("/").get_data(as_text=True)
        for key in ("member_rate", "unit_rate", "completion_rate", "closure_rate"):
            shown = "—" if figures[key] is None else f"{figures[key] * 100:.2f}%"
            assert re.search(rf'data-rate="{key}">\s*{re.escape(shown)}\s*<', html), (username, key, shown)
            part, whole = figures["parts"][key]  # what the rate divides, shown under it
            assert re.search(rf'data-rate-parts="{key}">{"—" if part is None else part} / {whole}<', html), key
    with app.app_context():
        mine = dashboard_figures(user(app, "community1"))
        start, end = definitions.quarter_bounds()
        ctx = make_context({}, scope=scope_for(user(app, "community1")))
        assert (mine["start"], mine["end"]) == (start, end) == (ctx.start, ctx.end)
        assert (start, end) == (date(2026, 10, 1), date(2026, 12, 31))  # the quarter of TODAY
        assert mine["member_rate"] == area_rates(ctx)[-1]["member_rate"]
    assert "data-rate=" not in browser("liaison1").get("/").get_data(as_text=True)


def test_openapi_documents_the_report_resource(app, district, api):
    paths = api("orgdept").get("/api/v1/_openapi").json["paths"]
    assert "/api/v1/report/" in paths and "/api/v1/report/{name}" in paths
