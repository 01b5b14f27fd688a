"""One home for every business definition (issue 13): app/statistics/definitions.py.

Every surface counts by the same definitions, so every figure agrees:

* on the ``world`` of tests/factories.py, and on a district generated here (late, closed,
  reopened and re-dated resolutions, re-registrations, several check-ins per member, members
  and units outside every community, a member whose check-in is in another community), each
  figure of the home page (``area_summary``, ``quarter_rates`` and the page itself), of the
  statistics reports and their workbook, of the reminder texts (digest, overdue resolutions,
  members not checked in or under the quota) and the warning colours of the API and the export
  equals a count written independently here — plain Python loops over the rows (``by_hand``),
  never the definitions;
* the regression: a late resolution whose stored status is still ``open`` is overdue on the
  home page (it used to count the stored status ``overdue`` only);
* the SQL and Python forms of each definition agree on boundary days (a deadline today or
  yesterday, a sign-off at the last moment of a day, a quarter's first and last days, a leap day).
"""
import random
import re
from collections import namedtuple
from datetime import date, datetime, time, timedelta

import pytest
from conftest import BACKENDS, Api, Browser, create_pg_database, make_app, on_day, run_cli
from sqlalchemy import select

from app.core.actor import acting_as
from app.extensions import db
from app.reminders.queue import GROUP_LINES
from app.statistics import definitions as defs
from app.statistics import figures as stats
from app.statistics.catalogue import REPORTS, compute
from app.statistics.context import make_context
from app.statistics.workbook import write_report_xlsx
from tests.factories import area, clean_business_data, fake, member, user
from tests.test_reports import column_letter, read_xlsx

TODAY = date(2026, 12, 20)  # 11 days before 2026Q4 ends: the quarter-end reminders are due
pytestmark = pytest.mark.today(TODAY)
USERS = ("orgdept", "street1", "community1", "community2")
COUNTS = ("units", "units_checked_in", "members", "members_checked_in", "meetings", "open_resolutions",
          "overdue_resolutions")
Row = namedtuple("Row", "id name area_id community_id")


# ---- the independent count: plain loops over the rows, no definition used -----------------------

def quarter_by_hand(day):
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    following = date(day.year + 1, 1, 1) if first.month == 10 else date(day.year, first.month + 3, 1)
    return first, following - timedelta(days=1)


def snapshot():
    """Every row the figures read, as plain tuples."""
    from models import (
        Agreement,
        Area,
        Meeting,
        MemberCheckin,
        PartyMember,
        Resolution,
        ServiceQuota,
        ServiceRecord,
        Unit,
        UnitCheckin,
    )

    def rows(*columns):
        return db.session.execute(select(*columns)).all()

    areas = {r.id: r for r in rows(Area.id, Area.path, Area.level, Area.name)}
    return {
        "areas": areas,
        "units": rows(Unit.id, Unit.area_id),
        "unit_checkins": rows(UnitCheckin.unit_id, UnitCheckin.area_id, UnitCheckin.status, UnitCheckin.registered_on,
                              UnitCheckin.confirmed_on),
        "members": rows(PartyMember.id, PartyMember.name, PartyMember.area_id),
        "checkins": rows(MemberCheckin.member_id, MemberCheckin.area_id, MemberCheckin.status,
                         MemberCheckin.registered_on, MemberCheckin.confirmed_on, MemberCheckin.valid_until),
        "records": rows(ServiceRecord.member_id, ServiceRecord.area_id, ServiceRecord.served_on, ServiceRecord.hours,
                        ServiceRecord.points),
        "meetings": rows(Meeting.id, Meeting.area_id, Meeting.held_at),
        "resolutions": rows(Resolution.id, Resolution.title, Resolution.meeting_id, Resolution.area_id,
                            Resolution.deadline, Resolution.status, Resolution.signed_off_at),
        "agreements": rows(Agreement.area_id, Agreement.ends_on),
        "quota": db.session.execute(select(ServiceQuota).where(ServiceQuota.active.is_(True),
                                                               ServiceQuota.period == "quarter")
                                    .order_by(ServiceQuota.id)).scalars().first(),
    }


def colour_by_hand(deadline, status, day):
    """The shipped rules' ladder: blue 3 days ahead, yellow 1 day late, red 8 days late."""
    late = (day - deadline).days
    if status == "done" or late < -3:
        return None
    return "red" if late >= 8 else "yellow" if late >= 1 else "blue"


def by_hand(snap, scope_path, day):
    areas = snap["areas"]

    def inside(area_id):
        return scope_path is None or areas[area_id].path.startswith(scope_path)

    def community(area_id):
        found = [a.id for a in areas.values() if a.level == "community" and areas[area_id].path.startswith(a.path)]
        return found[0] if found else None

    start, end = quarter_by_hand(day)
    units = [u for u in snap["units"] if inside(u.area_id)]
    units_in = {c.unit_id for c in snap["unit_checkins"]
                if c.status == "confirmed" and (c.confirmed_on or c.registered_on) <= end}
    members = [m for m in snap["members"] if inside(m.area_id)]
    checked_in = set()
    for m in members:
        home = community(m.area_id)
        for c in snap["checkins"]:
            if c.member_id != m.id or (home is not None and community(c.area_id) != home):
                continue
            if (c.confirmed_on or c.registered_on) > end or c.status not in ("confirmed", "expired"):
                continue
            if (c.valid_until is None and c.status == "confirmed") or (c.valid_until and c.valid_until >= start):
                checked_in.add(m.id)
    totals = {}
    for r in snap["records"]:
        if r.member_id is not None and inside(r.area_id) and start <= r.served_on <= end:
            n, hours, points = totals.get(r.member_id, (0, 0.0, 0.0))
            totals[r.member_id] = (n + 1, hours + r.hours, points + r.points)
    quota = snap["quota"]
    met = set()
    if quota is not None:
        met = {m for m in checked_in if totals.get(m, (0, 0, 0))[0] >= quota.min_activities
               and totals.get(m, (0, 0, 0))[1] >= quota.min_hours and totals.get(m, (0, 0, 0))[2] >= quota.min_points}
    resolutions = [r for r in snap["resolutions"] if inside(r.area_id)]
    quarter_meetings = {m.id for m in snap["meetings"] if inside(m.area_id) and start <= m.held_at.date() <= end}
    of_quarter = [r for r in resolutions if r.meeting_id in quarter_meetings]
    late = [r for r in resolutions if r.status != "done" and r.deadline < day]
    names = {m.id: m.name for m in members}
    return {
        "units": len(units), "units_checked_in": sum(1 for u in units if u.id in units_in),
        "members": len(members), "members_checked_in": len(checked_in), "met_quota": len(met),
        "meetings": sum(1 for m in snap["meetings"] if inside(m.area_id)),
        "open_resolutions": sum(1 for r in resolutions if r.status != "done"), "overdue_resolutions": len(late),
        "resolutions_q": len(of_quarter),
        "closed_q": sum(1 for r in of_quarter if r.status == "done" and (
            r.signed_off_at is None or (r.signed_off_at + timedelta(hours=8)).date() <= end)),
        "overdue_q": sum(1 for r in of_quarter if r.status != "done" and r.deadline < min(end, day)),
        "expiring": sum(1 for a in snap["agreements"] if inside(a.area_id) and day <= a.ends_on <= day + timedelta(30)),
        "late": {r.title: ((day - r.deadline).days, colour_by_hand(r.deadline, r.status, day)) for r in late},
        "not_checked_in": {names[m.id] for m in members if m.id not in checked_in},
        "under_quota": {names[m]: totals.get(m, (0,))[0] for m in checked_in - met} if quota is not None else {},
        "colours": {r.id: colour_by_hand(r.deadline, r.status, day) for r in resolutions},
        "quota": quota,
    }


def percent_by_hand(part, whole):
    return f"{100.0 * (part / whole):.1f}%" if whole else "—"


def digest_by_hand(figures, area_name, day):
    service = percent_by_hand(figures["met_quota"], figures["members_checked_in"]) if figures["quota"] else "—"
    return (f"{area_name}{day.year}年{day.month}月工作简报：党员报到率"
            f"{percent_by_hand(figures['members_checked_in'], figures['members'])}"
            f"（{figures['members_checked_in']}/{figures['members']}人），本季度服务达标率{service}，"
            f"逾期议定事项{figures['overdue_resolutions']}项（未办结{figures['open_resolutions']}项），"
            f"30天内到期共建协议{figures['expiring']}份。")


# ---- the surfaces ---------------------------------------------------------------------------------

def as_user(app, username, function, *args):
    with app.app_context():
        with acting_as(user(app, username), via="test"):
            return function(*args)


def scope_of(app, username):
    """(area path or None, area name or "全区") of the user's scope."""
    from models import UserScope

    with app.app_context():
        row = db.session.execute(select(UserScope).where(UserScope.user_id == user(app, username).id)).scalar()
        return (row.area.path, row.area.name) if row is not None and row.area is not None else (None, "全区")


def check_home_page(app, browser, username, expected):
    summary = as_user(app, username, lambda: stats.area_summary(user(app, username)))
    assert {k: summary[k] for k in COUNTS} == {k: expected[k] for k in COUNTS}, username
    rates = as_user(app, username, lambda: stats.quarter_rates(user(app, username)))
    assert (rates["start"], rates["end"]) == (summary["start"], summary["end"]) == quarter_by_hand(TODAY)
    assert rates["parts"] == {
        "member_rate": (expected["members_checked_in"], expected["members"]),
        "unit_rate": (expected["units_checked_in"], expected["units"]),
        "completion_rate": (expected["met_quota"] if expected["quota"] else None, expected["members_checked_in"]),
        "closure_rate": (expected["closed_q"], expected["resolutions_q"])}, username
    assert rates["overdue"] == expected["overdue_q"], username
    html = browser(username).get("/").get_data(as_text=True)
    shown = {key: int(value) for key, value in re.findall(r'data-count="(\w+)">(\d+)<', html)}
    assert shown == {k: expected[k] for k in COUNTS}, username


def check_reports_and_workbook(app, username, expected, snap, tmp_path):
    start, end = quarter_by_hand(TODAY)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    computed = as_user(app, username, lambda: {n: compute(n, make_context(period))
                                               for n in REPORTS})
    total = computed["area_rates"][-1]
    assert (total["units"], total["units_checked_in"], total["members"], total["members_checked_in"]) == (
        expected["units"], expected["units_checked_in"], expected["members"], expected["members_checked_in"])
    assert total["members_met_quota"] == (expected["met_quota"] if expected["quota"] else None)
    closure = computed["closure_areas"][-1]
    assert (closure["resolutions"], closure["closed"], closure["overdue"]) == (
        expected["resolutions_q"], expected["closed_q"], expected["overdue_q"])
    # Each street and community row counts like that area's own home page would.
    paths = {a.name: a.path for a in snap["areas"].values() if a.level in ("street", "community")}
    for row in computed["area_rates"][:-1]:
        own = by_hand(snap, paths[row["community"] or row["street"]], TODAY)
        assert (row["units"], row["units_checked_in"], row["members"], row["members_checked_in"]) == (
            own["units"], own["units_checked_in"], own["members"], own["members_checked_in"]), row
    # The workbook holds the very rows.
    path = tmp_path / f"{username}.xlsx"
    as_user(app, username, write_report_xlsx, "all", period, str(path))
    for (name, rows), sheet in zip(computed.items(), read_xlsx(path).values()):
        for r, row in enumerate(rows, start=5):
            for c, col in enumerate(REPORTS[name].columns):
                cell, value = sheet["cells"].get(f"{column_letter(c)}{r}", (None,))[0], row.get(col.key)
                if col.kind in ("int", "rank", "percent") and value is not None:
                    assert cell == pytest.approx(value), (name, r, col.key)
                elif col.kind in ("text",):
                    assert (cell or "") == str(value or ""), (name, r, col.key)


def check_reminder_texts(app, figures):
    from app.reminders.rules import ensure_rules
    from app.reminders.scan import run_scan
    from models import Notification, ReminderRule

    with app.app_context():
        with acting_as(None, via="test"):
            ensure_rules()
            overdue = db.session.execute(select(ReminderRule).where(ReminderRule.code == "resolution_overdue"))
            overdue = overdue.scalar_one()
            overdue.template = "“{title}”逾期{days_overdue}天{colour}"
            db.session.commit()
        run_scan(now=datetime.combine(TODAY, time(1)), clock=datetime.combine(TODAY, time(1)))  # 09:00 local
        bodies = {}
        for user_id, code, level, body in db.session.execute(
                select(Notification.user_id, ReminderRule.code, Notification.level, Notification.body)
                .join(ReminderRule, ReminderRule.id == Notification.rule_id)):
            bodies.setdefault((user_id, code, level), []).append(body)
        for username, (expected, area_name) in figures.items():
            uid = user(app, username).id
            assert bodies[(uid, "monthly_digest", 0)] == [digest_by_hand(expected, area_name, TODAY)], username
            if not username.startswith("community"):
                continue
            text = "\n".join(bodies.get((uid, "resolution_overdue", 1), []))
            told = {title: (int(days), colour) for title, days, colour in re.findall(r"“(.+?)”逾期(\d+)天(\S*)", text)}
            names = {"黄色": "yellow", "红色": "red"}
            assert_listed({t: (d, names[c]) for t, (d, c) in told.items()}, text, expected["late"], username)
            text = "\n".join(bodies.get((uid, "member_not_checked_in", 0), []))
            listed = dict.fromkeys(re.findall(r"在职党员(\S+?)（", text))
            assert_listed(listed, text, dict.fromkeys(expected["not_checked_in"]), username)
            text = "\n".join(bodies.get((uid, "member_quota", 0), []))
            found = {name: int(n) for name, n in re.findall(r"在职党员(\S+?)（[^）]*）本季度已参加活动(\d+)次", text)}
            assert_listed(found, text, expected["under_quota"], username)


def assert_listed(listed, text, expected, username):
    """A reminder lists the first GROUP_LINES items of a group, each as counted by hand, then says
    how many more ("……另有N项"): together they are exactly the items counted by hand."""
    more = sum(int(n) for n in re.findall(r"另有(\d+)项", text))
    assert {k: expected.get(k, "not expected") for k in listed} == listed, username
    assert len(listed) + more == len(expected), username
    assert more == 0 or len(listed) == GROUP_LINES, username


def check_colours(app, api, expected):
    from models import WARNING_LEVELS, Resolution

    listed = api("orgdept").get("/api/v1/resolution/?q=(page_size:100)").json["result"]
    assert {r["id"]: r["warning"] for r in listed} == expected["colours"]
    with app.app_context():
        exported = dict(db.session.execute(select(Resolution.id, defs.warning_sql(Resolution))).all())
        assert exported == {pk: str(WARNING_LEVELS.label(c)) if c else None for pk, c in expected["colours"].items()}


def check_every_surface(app, browser, api, tmp_path):
    with app.app_context():
        snap = snapshot()
    figures = {}
    for username in USERS:
        path, name = scope_of(app, username)
        figures[username] = (by_hand(snap, path, TODAY), name)
        check_home_page(app, browser, username, figures[username][0])
    for username in ("orgdept", "community1"):
        check_reports_and_workbook(app, username, figures[username][0], snap, tmp_path)
    check_colours(app, api, figures["orgdept"][0])
    check_reminder_texts(app, figures)
    return figures


# ---- the world, and the regression ----------------------------------------------------------------

def test_every_surface_agrees_on_the_world(app, world, browser, api, tmp_path):
    figures = check_every_surface(app, browser, api, tmp_path)
    orgdept = figures["orgdept"][0]
    # The world: 2 units (1 checked in), 2 members (m1 checked in, m2's slip not yet confirmed),
    # r2 three days late (stored "overdue"), r1 due in 10 days.
    assert (orgdept["units_checked_in"], orgdept["members_checked_in"], orgdept["overdue_resolutions"]) == (1, 1, 1)


def test_a_late_resolution_still_marked_open_is_overdue_on_the_home_page(app, world, browser):
    from models import Meeting, Resolution

    with app.app_context():
        with acting_as(None, via="test"):
            meeting = db.session.get(Meeting, world["meeting1"])
            db.session.add(Resolution(meeting=meeting, title="补装单元门禁", lead_person="田云", status="open",
                                      deadline=TODAY - timedelta(days=1)))
            db.session.add(Resolution(meeting=meeting, title="今日到期事项", lead_person="田云", status="open",
                                      deadline=TODAY))
            db.session.commit()
    page = browser("community1").get("/").get_data(as_text=True)
    assert 'data-count="overdue_resolutions">1<' in page and 'data-count="open_resolutions">3<' in page
    page = browser("orgdept").get("/").get_data(as_text=True)
    assert 'data-count="overdue_resolutions">2<' in page  # and the world's, stored as "overdue"


# ---- a generated district ---------------------------------------------------------------------------

def build_district(app, seed):
    """Two streets of two communities of two grids; units and members spread over them (one of
    each outside every community), with every kind of check-in history, service in and before
    the quarter, meetings this and last quarter, and resolutions late, due, closed, reopened."""
    from models import Meeting, MeetingType, MemberCheckin, Resolution, ServiceRecord, Unit, UnitCheckin, UserScope

    rng = random.Random(seed)
    start, _end = quarter_by_hand(TODAY)
    with app.app_context(), acting_as(None, via="test"):
        district = area("生成区", "district", "659001")
        streets, communities, grids = [], [], []
        for s in range(2):
            streets.append(area(f"生成第{s + 1}街道", "street", f"659001{s + 1:03d}", district))
            for c in range(2):
                communities.append(area(f"生成{s + 1}{c + 1}社区", "community", f"{streets[-1].code}{c + 1:03d}",
                                        streets[-1]))
                for g in range(2):
                    grids.append(area(f"{communities[-1].name}{g + 1}网格", "grid", f"{communities[-1].code}{g + 1:03d}",
                                      communities[-1]))
        db.session.flush()
        units = [Unit(name=f"生成单位{i}", unit_type="soe", credit_code=fake.credit_code(), member_count=5,
                      area=district if i == 0 else rng.choice(grids)) for i in range(8)]
        db.session.add_all(units)
        db.session.flush()
        for unit in units:
            for target in rng.sample(communities, rng.randint(0, 2)):  # some check in elsewhere
                status = rng.choice(("confirmed", "confirmed", "registered", "expired"))
                registered = TODAY - timedelta(days=rng.randint(0, 200))
                confirmed = None if status == "registered" else min(TODAY, registered + timedelta(rng.randint(0, 9)))
                db.session.add(UnitCheckin(unit=unit, area=target, status=status, registered_on=registered,
                                           confirmed_on=confirmed))

        def checkin(person, status, registered, confirmed=None, valid_until=None, where=None):
            db.session.add(MemberCheckin(member=person, area=where or person.area, status=status,
                                         registered_on=registered, confirmed_on=confirmed, valid_until=valid_until))

        people = []
        for i in range(40):
            home = streets[1] if i == 0 else rng.choice(grids)
            person = member(home, rng.choice(units + [None]), name=f"生成党员{i:02d}")
            people.append(person)
            db.session.flush()
            pattern, d = i % 9, TODAY - timedelta(days=rng.randint(20, 80))
            if pattern == 1:
                checkin(person, "registered", TODAY - timedelta(days=2))
            elif pattern == 2:
                checkin(person, "confirmed", d, d + timedelta(days=1), rng.choice((None, TODAY + timedelta(days=90))))
            elif pattern == 3:  # a re-registration: the old one lapsed before the quarter, then a new one
                checkin(person, "expired", d - timedelta(days=400), d - timedelta(days=398), start - timedelta(days=10))
                checkin(person, "confirmed", start + timedelta(5), start + timedelta(6), TODAY + timedelta(180))
            elif pattern == 4:  # lapsed inside the quarter, new slip not yet confirmed
                checkin(person, "expired", d - timedelta(days=300), d - timedelta(days=299), start + timedelta(days=10))
                checkin(person, "registered", TODAY - timedelta(days=1))
            elif pattern == 5:  # still marked confirmed, but valid only until the day before the quarter
                checkin(person, "confirmed", d - timedelta(200), d - timedelta(199), start - timedelta(1))
            elif pattern == 6:  # two counting check-ins
                checkin(person, "confirmed", d - timedelta(days=100), d - timedelta(days=99))
                checkin(person, "confirmed", d, d)
            elif pattern == 7 and i != 0:  # checked in to a grid of another community
                other = rng.choice([g for g in grids if g.parent is not home.parent])
                checkin(person, "confirmed", d, d, where=other)
            elif pattern == 8:
                checkin(person, "confirmed", TODAY, None)  # confirmed today, no date of confirmation
            for _n in range(rng.randint(0, 4)):
                hours = rng.choice((0.5, 1.0, 1.5, 2.0, 3.0))
                served = start + timedelta(days=rng.randint(0, (TODAY - start).days))
                db.session.add(ServiceRecord(member=person, served_on=served, hours=hours, points=hours, content="服务"))
            if rng.random() < 0.3:
                db.session.add(ServiceRecord(member=person, served_on=start - timedelta(days=rng.randint(1, 40)),
                                             hours=5, points=5, content="上季度服务"))
        kind = db.session.execute(select(MeetingType).where(MeetingType.name == "圆桌会议")).scalar_one()
        title = iter(range(1000))
        statuses = ("open", "in_progress", "done", "reopened", "overdue", "open")
        for place in communities + [grids[0], grids[5]]:
            for held in (TODAY - timedelta(days=rng.randint(1, 60)), start - timedelta(days=rng.randint(1, 60))):
                meeting = Meeting(meeting_type=kind, title=f"{place.name}议事会{held}", area=place, convener="何涛",
                                  held_at=datetime.combine(held, time(14, 30)))
                db.session.add(meeting)
                for k in range(rng.randint(2, 4)):
                    deadline = TODAY + timedelta(days=rng.choice((-30, -9, -8, -7, -1, 0, 1, 3, 4, 20)))
                    status = statuses[(next(title) + k) % len(statuses)]
                    item = Resolution(meeting=meeting, title=f"生成事项{next(title):03d}", lead_person="田云",
                                      deadline=deadline, status="done" if status == "reopened" else status,
                                      evidence="已办结")
                    db.session.add(item)
                    db.session.flush()
                    if status == "reopened":
                        item.status = "open"  # signed off, then reopened: the sign-off is cleared
                    elif status == "done":
                        item.signed_off_at = datetime.combine(deadline - timedelta(days=1), time(3))
                    elif status == "overdue" and rng.random() < 0.5:
                        item.deadline = TODAY + timedelta(days=5)  # marked overdue, then given more time
        scopes = {"street1": {"area": streets[0]}, "community1": {"area": communities[0]},
                  "community2": {"area": communities[2]}, "liaison1": {"unit": units[1]}}
        for username, values in scopes.items():
            db.session.add(UserScope(user=user(app, username), **values))
        db.session.commit()


@pytest.fixture(params=[3, 11])
def district(app, request):
    yield build_district(app, request.param)
    with app.app_context():
        clean_business_data(app)


def test_every_surface_agrees_on_a_generated_district(app, district, browser, api, tmp_path):
    figures = check_every_surface(app, browser, api, tmp_path)
    orgdept = figures["orgdept"][0]
    assert orgdept["overdue_resolutions"] > 0 and orgdept["members_checked_in"] > 0  # figures worth comparing
    assert all(len(f["late"]) <= 20 for f, _name in figures.values())  # every late item is listed in a message


# ---- the SQL and Python forms agree on boundary days -------------------------------------------------

BOUNDARY_DAYS = [date(2028, 2, 29), date(2026, 10, 1), date(2026, 12, 31), date(2027, 1, 1), date(2026, 3, 31)]


def test_periods_on_boundary_days():
    assert defs.quarter_of(date(2028, 2, 29)) == ("2028Q1", date(2028, 1, 1), date(2028, 3, 31))
    assert defs.period_bounds("2028") == (date(2028, 1, 1), date(2028, 12, 31))
    assert defs.period_bounds("2026q4") == (date(2026, 10, 1), date(2026, 12, 31))
    for bad in ("2026Q5", "26Q1", "2026-Q1", ""):
        with pytest.raises(ValueError):
            defs.period_bounds(bad)
    day = date(2027, 12, 20)
    while day < date(2029, 1, 10):
        label, first, last = defs.quarter_of(day)
        assert (first, last) == quarter_by_hand(day) == defs.quarter_bounds(day) == defs.period_bounds(label)
        assert label == f"{day.year}Q{(day.month + 2) // 3}"
        day += timedelta(days=1)
    assert defs.evaluation_periods(date(2028, 1, 1), date(2028, 3, 31)) == ["2028Q1"]
    assert defs.evaluation_periods(date(2028, 1, 1), date(2028, 3, 30)) == []
    assert [defs.quota_kind(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=n - 1)) for n in (92, 93, 94)] == [
        "quarter", "quarter", "year"]
    assert defs.utc_day_start(date(2028, 2, 29)) == datetime(2028, 2, 28, 16)
    assert defs.today() == TODAY


def _values(query):
    """{id: (the other columns)}; a SQL boolean is 1/0 on SQLite, and 1 == True in Python."""
    return {row[0]: tuple(row[1:]) for row in db.session.execute(query)}


@pytest.mark.parametrize("day", BOUNDARY_DAYS)
def test_resolution_forms_agree(app, world, day):
    from models import Meeting, Resolution

    with app.app_context(), acting_as(None, via="test"):
        meeting = db.session.get(Meeting, world["meeting1"])
        last_moment = defs.utc_day_start(day + timedelta(days=1)) - timedelta(microseconds=1)
        sign_offs = (None, defs.utc_day_start(day), last_moment, last_moment + timedelta(microseconds=1))
        for n, shift in enumerate((-9, -8, -2, -1, 0, 1, 3, 4)):
            for status in ("open", "in_progress", "overdue", "done"):
                for signed in (sign_offs if status == "done" else (None,)):
                    item = Resolution(meeting=meeting, title=f"{n}{status}", lead_person="田云", status=status,
                                      deadline=day + timedelta(days=shift))
                    db.session.add(item)
                    db.session.flush()
                    item.signed_off_at = signed
        db.session.commit()
        items = db.session.execute(select(Resolution)).scalars().all()
        custom = {"due_days": 5, "yellow_after": 2, "red_after": None}
        for as_of in (day - timedelta(days=1), day, day + timedelta(days=1)):
            sql = _values(select(Resolution.id, defs.closed_sql(Resolution, as_of), defs.open_sql(Resolution, as_of),
                                 defs.overdue_sql(Resolution, as_of), defs.closed_sql(Resolution),
                                 defs.warning_level_sql(Resolution, as_of), defs.warning_level_sql(Resolution, as_of,
                                                                                                   custom)))
            for r in items:
                closed = defs.is_closed(r.status, r.signed_off_at, as_of)
                python = (closed, not closed, defs.is_overdue(r.deadline, r.status, as_of, r.signed_off_at),
                          defs.is_closed(r.status), defs.warning_level(r.deadline, r.status, as_of),
                          defs.warning_level(r.deadline, r.status, as_of, custom))
                assert sql[r.id] == python, (as_of, r.deadline, r.status, r.signed_off_at)
                # The definitions say it the way the independent count does.
                assert defs.is_overdue(r.deadline, r.status, as_of, r.signed_off_at) == (
                    r.deadline < as_of and not (r.status == "done" and (
                        r.signed_off_at is None or (r.signed_off_at + timedelta(hours=8)).date() <= as_of)))
                assert defs.warning_colour(r.deadline, r.status, as_of) == colour_by_hand(r.deadline, r.status, as_of)


@pytest.mark.parametrize("day", BOUNDARY_DAYS)
def test_checkin_and_quota_forms_agree(app, world, day):
    from models import Area, MemberCheckin, PartyMember, ServiceRecord, Unit, UnitCheckin

    start, end = quarter_by_hand(day)
    edges = (start - timedelta(days=1), start, end, end + timedelta(days=1))
    with app.app_context(), acting_as(None, via="test"):
        grid, elsewhere = db.session.get(Area, world["g11"]), db.session.get(Area, world["g21"])
        people, units = [], []
        for n, (status, when, valid) in enumerate(
                (s, w, v) for s in ("registered", "confirmed", "expired") for w in edges for v in (None,) + edges):
            if n % 6 == 0:
                people.append(member(grid, name=f"边界{n}"))
                units.append(Unit(name=f"边界单位{n}", unit_type="soe", credit_code=fake.credit_code(), area=grid))
                db.session.add(units[-1])
            db.session.add(MemberCheckin(member=people[-1], area=elsewhere if n % 7 == 3 else grid, status=status,
                                         registered_on=when - timedelta(days=n % 2),
                                         confirmed_on=when if n % 3 else None, valid_until=valid))
            if n % 6 < 2:  # units: one check-in per community
                db.session.add(UnitCheckin(unit=units[-1], area=db.session.get(Area, world["c1" if n % 6 else "c2"]),
                                           status=status, registered_on=when, confirmed_on=when if n % 3 else None))
            for served in edges[1:3]:
                db.session.add(ServiceRecord(member=people[-1], served_on=served, hours=1.5, points=n % 3,
                                             content="服务"))
        db.session.commit()
        for period in ((start, end), (day, day), defs.period_bounds(str(day.year))):
            rows = _values(select(MemberCheckin.id, defs.member_checkin_counts_sql(*period)))
            for c in db.session.execute(select(MemberCheckin)).scalars():
                assert rows[c.id] == (defs.member_checkin_counts(c.status, c.registered_on, c.confirmed_on,
                                                                 c.valid_until, *period),), (period, c.status)
            sql = _values(select(PartyMember.id, defs.member_checked_in_sql(*period)))
            for m in db.session.execute(select(PartyMember)).scalars():
                own = [(c.status, c.registered_on, c.confirmed_on, c.valid_until, c.community_id) for c in m.checkins]
                assert sql[m.id] == (defs.member_is_checked_in(m.community_id, own, *period),), (period, m.name)
            rows = _values(select(UnitCheckin.id, defs.unit_checkin_counts_sql(period[1])))
            units_in = _values(select(Unit.id, defs.unit_checked_in_sql(period[1])))
            for u in db.session.execute(select(Unit)).scalars():
                own = [(c.status, c.registered_on, c.confirmed_on) for c in u.checkins]
                assert units_in[u.id] == (defs.unit_is_checked_in(own, period[1]),)
                for c in u.checkins:
                    counts = defs.unit_checkin_counts(c.status, c.registered_on, c.confirmed_on, period[1])
                    assert rows[c.id] == (counts,)
            totals = {r.member_id: (r.activities, r.hours, r.points)
                      for r in db.session.execute(defs.service_totals(*period))}
            svc = defs.service_totals(*period).subquery()
            records = db.session.execute(select(ServiceRecord)).scalars().all()
            for quota in (defs.Quota("q", "quarter", 2, 3.0, 2.0), defs.Quota("z", "year", 0, 0.0, 0.0), None):
                met = _values(select(PartyMember.id, defs.meets_quota_sql(svc.c.activities, svc.c.hours, svc.c.points,
                                                                          quota))
                              .outerjoin(svc, svc.c.member_id == PartyMember.id))
                for person in people:
                    mine = [r for r in records if r.member_id == person.id and period[0] <= r.served_on <= period[1]]
                    by_loop = (len(mine), sum(r.hours for r in mine), sum(r.points for r in mine))
                    assert totals.get(person.id, (0, 0, 0)) == (by_loop if mine else (0, 0, 0))
                    assert met[person.id] == (defs.meets_quota(*by_loop, quota),), (period, quota, by_loop)


def test_warning_ladder_is_one_table(app):
    from models import WARNING_LEVELS

    assert [w.colour for w in defs.WARNINGS] == list(WARNING_LEVELS.codes)
    assert [defs.level_colour(n) for n in (0, 1, 2, 3, None)] == ["blue", "yellow", "red", None, None]
    assert defs.rule_limits("resolution_overdue", 0, 7) == {"yellow_after": 1, "red_after": 8}
    assert defs.rule_limits("resolution_due", 3) == {"due_days": 3}
    with app.app_context():
        # The shipped rules (or none: the same numbers by default) make the 3 / 1 / 8 ladder.
        assert defs.warning_thresholds() == defs.DEFAULT_WARNING == {"due_days": 3, "yellow_after": 1, "red_after": 8}


# ---- the demo district ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
def demo_app(request, tmp_path_factory):
    """The demo district (`gongjian seed-demo --scale 0.1`, through the CLI) seeded on ``TODAY``, on
    each backend: the figures a district sees first must agree as well."""
    url, drop = create_pg_database() if request.param == "postgresql" else (None, None)
    with on_day(TODAY):
        demo = make_app(tmp_path_factory.mktemp(f"demo-{request.param}"), url)
        run_cli(demo, "gongjian", "init")
        run_cli(demo, "gongjian", "seed-demo", "--scale", "0.1")
    yield demo
    with demo.app_context():
        db.session.remove()
        db.engine.dispose()
    if drop is not None:
        drop()


def test_every_surface_agrees_on_the_demo_district(demo_app, tmp_path):
    from models import Notification, ReminderDelivery

    with demo_app.app_context():  # the seed already sent today's reminders: this scan sends them anew
        db.session.execute(Notification.__table__.delete())
        db.session.execute(ReminderDelivery.__table__.delete())
        db.session.commit()
    figures = check_every_surface(demo_app, lambda username=None: Browser(demo_app, username),
                                  lambda username: Api(demo_app, username), tmp_path)
    orgdept = figures["orgdept"][0]
    assert orgdept["overdue_resolutions"] > 0 and orgdept["members_checked_in"] > 0  # figures worth comparing
    assert orgdept["units_checked_in"] < orgdept["units"]  # the demo has units not (yet) checked in


def test_the_district_day_is_asia_shanghai_whatever_the_server_clock_says():
    """17:00 UTC on 7 December is 01:00 on 8 December in the district: the district's today (every
    deadline, quarter and reminder counts by it) is the 8th, on a server in any time zone."""
    from app.core.calendar import local_now, today

    evening_utc = datetime(2026, 12, 7, 17, 0)
    assert local_now(evening_utc) == datetime(2026, 12, 8, 1, 0)
    assert today(evening_utc) == date(2026, 12, 8)
    assert today(datetime(2026, 12, 31, 16, 0)) == date(2027, 1, 1)  # a new year, and a new quarter
    assert defs.quarter_of(today(datetime(2026, 12, 31, 16, 0)))[0] == "2027Q1"

