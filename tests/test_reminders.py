"""Reminders and escalation: each shipped rule at the days around its threshold, the blue → yellow
→ red ladder (and the warning colour on screens and in the API), rule edits taking effect,
exactly-once delivery under repeated and concurrent scans, a killed scan losing nothing, the scope
of recipients, the bell and the ``notification`` API, and the ``remind`` command.

Channels and Celery have their own files: test_reminder_channels.py, test_reminder_tasks.py."""
import threading
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.core.actor import acting_as
from app.extensions import db
from tests.conftest import run_cli
from tests.factories import unchanged

D = date(2026, 12, 14)  # a Monday; its quarter (2026Q4) ends on 2026-12-31
QUARTER_END = date(2026, 12, 31)
# The day the tests run on (the world of tests/factories.py is dated from it): the world's own
# resolutions (deadlines TODAY + 10 and TODAY - 3) are overdue before D, and its check-ins and
# checkin1's 2026Q3 report predate the quarter-end scans.
TODAY = date(2026, 11, 20)
pytestmark = pytest.mark.today(TODAY)


def at(day, hour=9):
    """``day`` at ``hour`` in Asia/Shanghai, as the naive UTC the scan takes."""
    return datetime.combine(day, time(hour)) - timedelta(hours=8)


def scan(day, hour=9, **kwargs):
    from app.reminders.scan import run_scan

    return run_scan(now=at(day, hour), clock=kwargs.pop("clock", at(day, hour)), **kwargs)


def sent(code, target_id=None, target_type=None):
    """{(level, username or member name, channel)} of the rule's sent deliveries (for one target)."""
    from flask_appbuilder.security.sqla.models import User

    from models import PartyMember, ReminderRule
    from models import ReminderDelivery as D_

    query = (select(D_.level, D_.recipient_type, D_.recipient_id, D_.channel, User.username, PartyMember.name)
             .join(ReminderRule, ReminderRule.id == D_.rule_id)
             .outerjoin(User, (D_.recipient_type == "user") & (User.id == D_.recipient_id))
             .outerjoin(PartyMember, (D_.recipient_type == "member") & (PartyMember.id == D_.recipient_id))
             .where(ReminderRule.code == code, D_.state == "sent"))
    if target_id is not None:
        query = query.where(D_.target_id == target_id)
    if target_type is not None:
        query = query.where(D_.target_type == target_type)
    return {(r.level, r.username or r.name or "group", r.channel) for r in db.session.execute(query)}


def users_told(code, target_id, level=None, channel="inapp"):
    return {who for lvl, who, ch in sent(code, target_id) if ch == channel and (level is None or lvl == level)}


def rule(code):
    from models import ReminderRule

    return db.session.execute(select(ReminderRule).where(ReminderRule.code == code)).scalar_one()


def ensure_user(app, username, role, first_name, last_name):
    sm = app.appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(username, first_name, last_name, f"{username}@example.cn", sm.find_role(role),
                           "Test-Passw0rd!")
    return user


def give_scope(app, username, area_id=None, unit_id=None):
    from models import UserScope

    user = app.appbuilder.sm.find_user(username=username)
    with acting_as(None, via="test"):
        db.session.add(UserScope(user_id=user.id, area_id=area_id, unit_id=unit_id))
        db.session.commit()
    return user


@pytest.fixture
def rules(app, world):
    """The world with the shipped rules (the world's clean-up removes them after each test)."""
    from app.reminders.rules import ensure_rules

    with app.app_context():
        with acting_as(None, via="test"):
            ensure_rules()
            db.session.commit()
    return world


@pytest.fixture
def ctx(app, rules):
    """…and an app context held open for the test (tests that make requests use ``rules`` and open
    contexts around their own database work: requests would share this one's ``g``)."""
    with app.app_context():
        yield rules
        db.session.rollback()


def add(*objects):
    with acting_as(None, via="test"):
        db.session.add_all(objects)
        db.session.commit()
    return objects[0] if len(objects) == 1 else objects


def resolution(world, deadline, community="c1", **kw):
    from models import Meeting, Resolution, Unit

    meeting = db.session.get(Meeting, world["meeting1" if community == "c1" else "meeting2"])
    values = dict(title=f"议定事项{deadline}", lead_person="无账号", deadline=deadline)
    values.update(kw)
    if "lead_unit_id" not in values and community == "c1":
        values["lead_unit"] = db.session.get(Unit, world["unit1"])
    return add(Resolution(meeting=meeting, **values))


# ------------------------------------------------------------------------------------------------
# Shipped rules
# ------------------------------------------------------------------------------------------------


def test_shipped_rules_cover_the_issue_and_are_valid(app, ctx):
    from app.core.record_rules import check_record
    from app.reminders.rules import SHIPPED_RULES
    from models import REMINDER_KINDS, ReminderRule

    rules = db.session.execute(select(ReminderRule)).scalars().all()
    assert {r.kind for r in rules} == set(REMINDER_KINDS.codes)
    assert len(rules) == len(SHIPPED_RULES)
    for item in rules:
        assert check_record(ReminderRule, item, item.id) == {}, item.code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in item.template)  # Chinese content
    # Re-running the seed neither duplicates nor overwrites an admin's edit.
    rule("resolution_due").offset_days = 5
    db.session.commit()
    from app.reference_data import ensure_reference_data

    with acting_as(None, via="test"):
        ensure_reference_data()
    assert rule("resolution_due").offset_days == 5
    assert db.session.scalar(select(func.count()).select_from(ReminderRule)) == len(SHIPPED_RULES)


# ------------------------------------------------------------------------------------------------
# Resolutions: due soon (blue) and the overdue ladder (yellow → red)
# ------------------------------------------------------------------------------------------------


def test_resolution_due_reminds_lead_and_co_owners_from_n_days_before(app, ctx):
    from models import Unit

    world = ctx
    item = resolution(world, D, co_units=[db.session.get(Unit, world["unit2"])])
    lead_account = ensure_user(app, "liaison_unit2", "UnitLiaison", "联络员", "和平")
    give_scope(app, "liaison_unit2", unit_id=world["unit2"])
    scan(D - timedelta(days=4))
    assert users_told("resolution_due", item.id) == set()
    scan(D - timedelta(days=3))
    assert users_told("resolution_due", item.id) == {"liaison1", "liaison_unit2"}  # lead and co-owner unit
    assert {lvl for lvl, _who, _ch in sent("resolution_due", item.id)} == {0}
    scan(D - timedelta(days=2))
    scan(D)
    from models import Notification

    titles = db.session.execute(select(Notification.title).where(Notification.user_id == lead_account.id)).scalars()
    assert list(titles) == ["【蓝色提醒】议定事项到期提醒"]
    scan(D + timedelta(days=1))  # past the deadline: the due rule is over (the overdue rule takes it)
    assert users_told("resolution_due", item.id) == {"liaison1", "liaison_unit2"}


def test_lead_owner_by_name_within_scope(app, ctx):
    world = ctx
    ensure_user(app, "zhaohong", "CommunityAdmin", "红", "赵")
    ensure_user(app, "zhaohong2", "CommunityAdmin", "红", "赵")  # a namesake in the other community
    give_scope(app, "zhaohong", area_id=world["c1"])
    give_scope(app, "zhaohong2", area_id=world["c2"])
    item = resolution(world, D, lead_person="赵红")
    scan(D - timedelta(days=1))
    assert users_told("resolution_due", item.id) == {"liaison1", "zhaohong"}


@pytest.mark.parametrize("days,colour", [(-4, None), (-3, "blue"), (0, "blue"), (1, "yellow"), (7, "yellow"),
                                         (8, "red"), (30, "red")])
def test_warning_colour_around_thresholds(app, ctx, days, colour):
    from app.statistics.definitions import warning_colour

    assert warning_colour(D, "open", today=D + timedelta(days=days)) == colour
    assert warning_colour(D, "done", today=D + timedelta(days=days)) is None


def test_overdue_escalates_yellow_to_community_then_red_to_street_and_orgdept(app, ctx):
    world = ctx
    item = resolution(world, D)
    other = resolution(world, D, community="c2", title="和平社区事项")
    scan(D)
    assert sent("resolution_overdue", item.id) == set()
    scan(D + timedelta(days=1))
    assert users_told("resolution_overdue", item.id, level=1) == {"community1"}
    assert users_told("resolution_overdue", other.id, level=1) == {"community2"}
    scan(D + timedelta(days=7))
    assert users_told("resolution_overdue", item.id, level=2) == set()
    scan(D + timedelta(days=8))
    assert users_told("resolution_overdue", item.id, level=2) == {"street1", "orgdept"}
    assert users_told("resolution_overdue", other.id, level=2) == {"orgdept"}  # street1 is not its street
    assert users_told("resolution_overdue", item.id) == {"community1", "street1", "orgdept"}
    scan(D + timedelta(days=20))  # nobody is nagged twice
    from models import ReminderDelivery

    count = db.session.scalar(select(func.count()).select_from(ReminderDelivery).where(
        ReminderDelivery.target_type == "resolution", ReminderDelivery.target_id == item.id,
        ReminderDelivery.rule_id == rule("resolution_overdue").id))
    assert count == 3


def test_a_late_first_scan_claims_every_level_reached(app, ctx):
    item = resolution(ctx, D)
    scan(D + timedelta(days=10))
    assert sent("resolution_overdue", item.id) >= {(1, "community1", "inapp"), (2, "street1", "inapp"),
                                                   (2, "orgdept", "inapp")}


def test_signed_off_resolution_is_not_chased(app, ctx):
    item = resolution(ctx, D, status="done", evidence="已办结")
    scan(D + timedelta(days=9))
    assert sent("resolution_overdue", item.id) == set()


def test_warning_colour_on_screens_and_api(app, rules, api, browser):
    from app.core.calendar import local_now

    with app.app_context():
        today = local_now().date()
        assert today == TODAY  # the screens and the API judge the colour on the pinned day
        items = {"blue": resolution(rules, today + timedelta(days=2)).id,
                 "yellow": resolution(rules, today - timedelta(days=2)).id,
                 "red": resolution(rules, today - timedelta(days=9)).id,
                 None: resolution(rules, today + timedelta(days=30)).id}
    client = api("community1")
    rows = {r["id"]: r for r in client.get("/api/v1/resolution/?q=(page_size:100)").json["result"]}
    for colour, pk in items.items():
        assert rows[pk]["warning"] == colour
        assert client.get(f"/api/v1/resolution/{pk}").json["result"]["warning"] == colour
    user = browser("community1")
    html = user.get("/resolutionview/list/").get_data(as_text=True)
    assert "gj-warning-red" in html and "gj-warning-yellow" in html and "gj-warning-blue" in html
    page = user.get(f"/resolutionview/show/{items['red']}").get_data(as_text=True)
    assert "gj-warning-red" in page


# ------------------------------------------------------------------------------------------------
# Rule edits
# ------------------------------------------------------------------------------------------------


def test_rule_edits_take_effect(app, rules, api):
    from app.statistics.definitions import warning_colour
    from models import Notification

    with app.app_context():
        item = resolution(rules, D)
        item_id, title = item.id, item.title
        due_id, overdue_id = rule("resolution_due").id, rule("resolution_overdue").id
    client = api("orgdept")
    answer = client.put(f"/api/v1/reminder_rule/{due_id}", json={"offset_days": 5, "recipients": "lead_owner"})
    assert answer.status_code == 200, answer.json
    with app.app_context():
        scan(D - timedelta(days=5))
        assert users_told("resolution_due", item_id) == {"liaison1"}
        assert warning_colour(D, "open", today=D - timedelta(days=5)) == "blue"  # the colour follows the rule
    assert client.put(f"/api/v1/reminder_rule/{overdue_id}", json={"enabled": False}).status_code == 200
    with app.app_context():
        scan(D + timedelta(days=9))
        assert sent("resolution_overdue", item_id) == set()
    assert client.put(f"/api/v1/reminder_rule/{overdue_id}",
                      json={"enabled": True, "escalate_after_days": 30, "template": "逾期：{title}"}).status_code == 200
    with app.app_context():
        scan(D + timedelta(days=9))
        assert users_told("resolution_overdue", item_id) == {"community1"}  # yellow only: red is now day 31
        bodies = db.session.execute(select(Notification.body).where(Notification.rule_id == overdue_id)).scalars()
        assert f"逾期：{title}" in list(bodies)


def test_rule_validation_answers_400_with_the_field(app, rules, api, browser):
    client = api("admin")
    with app.app_context():
        due = rule("resolution_due")
        due_id, due_name = due.id, due.name
    url = f"/api/v1/reminder_rule/{due_id}"
    kept = client.get(url).json["result"]
    with unchanged(app):
        bad = client.put(url, json={"template": "{title} {__class__}"})
        assert bad.status_code == 400 and "template" in bad.json["message"]
        bad = client.put(url, json={"recipients": "orgdept,note_taker"})
        assert bad.status_code == 400 and "recipients" in bad.json["message"]
        bad = client.put(url, json={"channels": "pigeon"})
        assert bad.status_code == 400 and "channels" in bad.json["message"]
        bad = client.put(url, json={"offset_days": -1})
        assert bad.status_code == 400 and "offset_days" in bad.json["message"]
        bad = client.post("/api/v1/reminder_rule/", json={"code": "Bad Code", "name": "x", "kind": "nope",
                                                           "recipients": "orgdept", "channels": "inapp",
                                                           "template": "x"})
        assert bad.status_code == 400 and "kind" in bad.json["message"]
    assert client.get(url).json["result"] == kept  # the rule is as it was
    created = client.post("/api/v1/reminder_rule/", json={
        "code": "resolution_due_1d", "name": "明日到期", "kind": "resolution_due", "offset_days": 1,
        "recipients": "lead_owner,community_admin", "channels": "inapp", "template": "明天到期：{title}",
        "enabled": True})
    assert created.status_code == 201, created.json
    assert api("community1").get("/api/v1/reminder_rule/").status_code == 403
    # The rule screen: multi-selects for recipients and channels, the same rules on the form.
    user = browser("admin")
    form = f"/reminderruleview/edit/{due_id}"
    assert user.get(form).status_code == 200
    values = {"name": due_name, "kind": "resolution_due", "offset_days": "2", "recipients": ["lead_owner", "co_owners"],
              "channels": ["inapp", "email"], "enabled": "y"}
    answer = user.submit(form, {**values, "template": "{nosuch}"})
    assert answer.status_code == 200 and "nosuch" in answer.get_data(as_text=True)
    answer = user.submit(form, {**values, "template": "到期：{title}"})
    assert answer.status_code == 302
    with app.app_context():
        assert rule("resolution_due").channels == "inapp,email" and rule("resolution_due").offset_days == 2
        assert rule("resolution_due").recipients == "lead_owner,co_owners"


# ------------------------------------------------------------------------------------------------
# Meetings
# ------------------------------------------------------------------------------------------------


def planned_meeting(world, day, **kw):
    from models import Meeting, MeetingType, Unit

    mtype = db.session.execute(select(MeetingType).limit(1)).scalar_one()
    values = dict(meeting_type=mtype, title="幸福社区联席会议", area_id=world["c1"], convener="何涛",
                  note_taker="周记", held_at=datetime.combine(day, time(15)), place="党群服务中心",
                  units=[db.session.get(Unit, world["unit1"])], status="planned")
    values.update(kw)
    return add(Meeting(**values))


def test_meeting_topics_and_eve(app, ctx, monkeypatch):
    from models import PartyMember

    world = ctx
    ensure_user(app, "hetao", "CommunityAdmin", "涛", "何")
    give_scope(app, "hetao", area_id=world["c1"])
    monkeypatch.setitem(app.config, "REMINDER_SMS_URL", "http://127.0.0.1:9/sms")  # sms claims only
    meeting = planned_meeting(world, D, attendees="何涛、王强")
    scan(D - timedelta(days=8))
    assert sent("meeting_topics", meeting.id) == set()
    scan(D - timedelta(days=7), send=False)
    from models import ReminderDelivery

    claims = db.session.execute(select(ReminderDelivery.recipient_type, ReminderDelivery.recipient_id,
                                       ReminderDelivery.channel).where(
        ReminderDelivery.rule_id == rule("meeting_topics").id, ReminderDelivery.target_id == meeting.id)).all()
    m1 = db.session.get(PartyMember, world["m1"])  # checked in (confirmed), lives in grid 1 of c1
    assert ("member", m1.id, "sms") in claims  # members of the area, by text message
    assert {c for c in claims if c[0] == "user"} == {("user", app.appbuilder.sm.find_user("liaison1").id, "inapp")}
    assert not any(c[1] == world["m2"] for c in claims if c[0] == "member")  # another community
    monkeypatch.setitem(app.config, "REMINDER_SMS_URL", "")
    scan(D - timedelta(days=2))
    assert users_told("meeting_eve", meeting.id) == set()
    scan(D - timedelta(days=1))
    assert users_told("meeting_eve", meeting.id) == {"liaison1", "hetao"}  # attending unit, named convener
    scan(D)  # on the day nothing more
    assert users_told("meeting_eve", meeting.id) == {"liaison1", "hetao"}


def test_minutes_missing_goes_to_note_taker_or_else_the_community_admin(app, ctx):
    world = ctx
    ensure_user(app, "zhouji", "CommunityAdmin", "记", "周")
    give_scope(app, "zhouji", area_id=world["c1"])
    with_account = planned_meeting(world, D, status="held")
    without = planned_meeting(world, D, status="held", note_taker="无此人", title="另一次会议")
    filed = planned_meeting(world, D, status="minutes_filed", title="已归档", minutes="纪要")
    scan(D + timedelta(days=2))
    assert users_told("minutes_missing", with_account.id) == set()
    scan(D + timedelta(days=3))
    assert users_told("minutes_missing", with_account.id) == {"zhouji"}
    assert users_told("minutes_missing", without.id) == {"community1", "zhouji"}  # zhouji is a c1 admin
    assert users_told("minutes_missing", filed.id) == set()


# ------------------------------------------------------------------------------------------------
# Members, agreements, unit reports
# ------------------------------------------------------------------------------------------------


def test_member_not_checked_in_before_quarter_end(app, ctx, monkeypatch):
    from models import Area
    from tests.factories import member

    world = ctx
    monkeypatch.setitem(app.config, "REMINDER_SMS_URL", "http://127.0.0.1:9/sms")
    lone = add(member(db.session.get(Area, world["g12"]), name="未报到"))
    scan(QUARTER_END - timedelta(days=16), send=False)
    assert not _claimed("member_not_checked_in", lone.id)
    scan(QUARTER_END - timedelta(days=15), send=False)
    assert _claimed("member_not_checked_in", lone.id) == {("user", "community1", "inapp"),
                                                          ("member", "未报到", "sms")}
    assert not _claimed("member_not_checked_in", world["m1"])  # checked in


def _claimed(code, target_id):
    from flask_appbuilder.security.sqla.models import User

    from models import PartyMember, ReminderRule
    from models import ReminderDelivery as D_

    rows = db.session.execute(select(D_.recipient_type, User.username, PartyMember.name, D_.channel)
                              .join(ReminderRule, ReminderRule.id == D_.rule_id)
                              .outerjoin(User, (D_.recipient_type == "user") & (User.id == D_.recipient_id))
                              .outerjoin(PartyMember, (D_.recipient_type == "member")
                                         & (PartyMember.id == D_.recipient_id))
                              .where(ReminderRule.code == code, D_.target_id == target_id)).all()
    return {(r[0], r[1] or r[2], r[3]) for r in rows}


def test_member_reregistration_due(app, ctx):
    from models import MemberCheckin

    world = ctx
    checkin = db.session.execute(select(MemberCheckin).where(MemberCheckin.member_id == world["m1"])).scalar_one()
    checkin.valid_until = D
    db.session.commit()
    scan(D - timedelta(days=31))
    assert users_told("member_reregister", world["m1"]) == set()
    scan(D - timedelta(days=30))
    assert users_told("member_reregister", world["m1"]) == {"community1"}
    # A newer check-in replaces the one running out: nothing to chase for the next occasion.
    add(MemberCheckin(member_id=world["m1"], area_id=world["g11"], status="confirmed",
                      registered_on=D - timedelta(days=1), valid_until=D + timedelta(days=400)))
    checkin.valid_until = D + timedelta(days=1)
    db.session.commit()
    scan(D)
    assert {lvl for lvl, _w, _c in sent("member_reregister", world["m1"])} == {0}
    assert len(sent("member_reregister", world["m1"])) == 1


def test_member_under_quarter_quota(app, ctx):
    from models import Area, MemberCheckin, ServiceRecord
    from tests.factories import member

    world = ctx
    grid = db.session.get(Area, world["g11"])
    under, done = add(member(grid, name="差一点"), member(grid, name="已达标"))
    for person in (under, done):
        add(MemberCheckin(member=person, area=grid, status="confirmed", registered_on=date(2026, 1, 5),
                          confirmed_on=date(2026, 1, 6)))
    add(ServiceRecord(member=under, served_on=date(2026, 10, 10), hours=1, points=1, content="巡逻"))
    for n in range(4):  # the shipped quarter quota: 2 activities, 4 hours, 4 points
        add(ServiceRecord(member=done, served_on=date(2026, 10, 10 + n), hours=1, points=1, content="巡逻"))
    scan(QUARTER_END - timedelta(days=16))
    assert users_told("member_quota", under.id) == set()
    scan(QUARTER_END - timedelta(days=15))
    assert users_told("member_quota", under.id) == {"community1"}
    assert users_told("member_quota", done.id) == set()
    from models import Notification

    body = db.session.execute(select(Notification.body).where(
        Notification.rule_id == rule("member_quota").id)).scalars().first()
    assert "差一点" in body and "1次" in body


def test_agreement_expiring_and_unit_report_missing(app, ctx):
    from models import Agreement, Notification, Unit, UnitCheckin, UnitReport

    world = ctx
    agreement = db.session.execute(select(Agreement).where(Agreement.checkin_id == world["checkin1"])).scalar_one()
    agreement.ends_on = D
    db.session.commit()
    scan(D - timedelta(days=31))
    assert users_told("agreement_expiring", agreement.id) == set()
    scan(D - timedelta(days=30))
    assert users_told("agreement_expiring", agreement.id) == {"community1", "liaison1"}
    renewed = add(Agreement(checkin=db.session.get(UnitCheckin, world["checkin1"]), title="续签", starts_on=D,
                            ends_on=D + timedelta(days=30)))
    scan(D + timedelta(days=5))  # the renewal is itself 25 days from its end now, the old one is renewed
    assert users_told("agreement_expiring", renewed.id) == {"community1", "liaison1"}

    checkin = db.session.get(UnitCheckin, world["checkin1"])
    # A second confirmed check-in to community1 that has already reported this quarter.
    reported = add(UnitCheckin(unit=db.session.get(Unit, world["unit2"]), area_id=world["c1"], status="confirmed",
                               registered_on=date(2026, 1, 5), confirmed_on=date(2026, 1, 6)))
    add(UnitReport(checkin=reported, quarter="2026Q4", submitted_on=date(2026, 12, 1), summary="四季度共建"))
    scan(QUARTER_END - timedelta(days=11))
    assert users_told("unit_report_missing", checkin.id) == set()
    scan(QUARTER_END - timedelta(days=10))
    # checkin1 reported 2026Q3 only (tests/factories.py): last quarter's report does not count.
    assert users_told("unit_report_missing", checkin.id) == {"community1", "liaison1"}
    assert users_told("unit_report_missing", reported.id) == set()
    assert users_told("unit_report_missing", world["checkin2"]) == set()  # only registered, not confirmed
    body = db.session.execute(select(Notification.body).where(
        Notification.rule_id == rule("unit_report_missing").id)).scalars().first()
    assert "天山区市场监督管理局" in body and "2026Q4" in body
    # A unit that sent next quarter's report is left alone at that quarter's end.
    add(UnitReport(checkin=checkin, quarter="2027Q1", submitted_on=date(2027, 3, 1), summary="一季度共建"))
    scan(date(2027, 3, 31) - timedelta(days=10))
    assert users_told("unit_report_missing", reported.id) == {"community1"}  # its 2026Q4 report is old now
    assert {lvl for lvl, _w, _c in sent("unit_report_missing", checkin.id)} == {0}
    from models import ReminderDelivery

    occasions = set(db.session.execute(select(ReminderDelivery.occasion).where(
        ReminderDelivery.rule_id == rule("unit_report_missing").id,
        ReminderDelivery.target_id == checkin.id)).scalars())
    assert occasions == {"2026Q4"}


def test_monthly_digest_per_admin_with_their_area_figures(app, ctx):
    from models import Notification

    scan(date(2026, 12, 1))
    digest = rule("monthly_digest")

    def digests(username):
        user = app.appbuilder.sm.find_user(username=username)
        return db.session.execute(select(Notification.body).where(
            Notification.rule_id == digest.id, Notification.user_id == user.id)).scalars().all()

    (community1,) = digests("community1")
    assert community1.startswith("幸福社区2026年12月") and "（1/1人）" in community1
    (orgdept,) = digests("orgdept")
    assert orgdept.startswith("全区") and "（1/2人）" in orgdept  # m2's check-in is only registered
    assert len(digests("street1")) == 1 and digests("liaison1") == []
    scan(date(2026, 12, 20))
    assert len(digests("community1")) == 1  # once a month
    scan(date(2027, 1, 1))
    assert len(digests("community1")) == 2


# ------------------------------------------------------------------------------------------------
# Exactly once, and nothing lost
# ------------------------------------------------------------------------------------------------


def _delivery_counts():
    from models import Notification, ReminderDelivery

    return (db.session.scalar(select(func.count()).select_from(ReminderDelivery)),
            db.session.scalar(select(func.count()).select_from(Notification)))


def test_repeated_scan_sends_nothing_twice(app, ctx):
    resolution(ctx, D)
    first = scan(D + timedelta(days=9))
    assert first.sent > 0
    counts = _delivery_counts()
    again = scan(D + timedelta(days=9))
    assert again.sent == 0 and sum(c.claimed for c in again.rules.values()) == 0
    assert _delivery_counts() == counts


def test_concurrent_scans_send_each_reminder_once(app, ctx):
    from app.reminders.scan import run_scan
    from models import Notification, ReminderDelivery

    world = ctx
    for n in range(30):
        resolution(world, D - timedelta(days=n % 12), title=f"并发事项{n}")
        resolution(world, D - timedelta(days=n % 12), community="c2", title=f"并发事项{n}")
    reports, errors = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                reports.append(run_scan(now=at(D + timedelta(days=3)), clock=at(D + timedelta(days=3))))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    db.session.expire_all()
    total_sent = db.session.scalar(select(func.count()).select_from(ReminderDelivery)
                                   .where(ReminderDelivery.state == "sent"))
    assert sum(r.sent for r in reports) == total_sent > 0  # each delivery sent by exactly one scan
    assert db.session.scalar(select(func.count()).select_from(ReminderDelivery).where(
        ReminderDelivery.state != "sent")) == 0
    # No delivery is listed in two notifications: the items listed add up to the in-app deliveries.
    listed = db.session.execute(select(func.count()).select_from(ReminderDelivery).where(
        ReminderDelivery.channel == "inapp", ReminderDelivery.state == "sent")).scalar_one()
    assert listed == sum(_items_in(body) for body in db.session.execute(select(Notification.body)).scalars())


def _items_in(body):
    """How many items a notification lists (one line, or the numbered lines and the 'more' count)."""
    import re

    lines = body.split("\n")
    numbered = [line for line in lines if re.match(r"^\d+\. ", line)]
    more = re.search(r"另有(\d+)项", body)
    return (len(numbered) + (int(more.group(1)) if more else 0)) or 1


def test_a_killed_scan_loses_nothing(app, ctx):
    """Claims survive a scan that died before sending, and a lease held by a dead scan runs out."""
    from app.reminders.channels import enabled_channels
    from app.reminders.queue import lease
    from app.reminders.queue import send_settings as _settings
    from app.reminders.sending import send_due
    from models import ReminderDelivery

    item = resolution(ctx, D)
    scan(D + timedelta(days=1), send=False)  # died after claiming
    pending = db.session.execute(select(ReminderDelivery).where(ReminderDelivery.target_id == item.id)).scalars().all()
    assert pending and {d.state for d in pending} == {"pending"}
    clock = at(D + timedelta(days=1))
    with app.test_request_context():
        assert lease(clock, enabled_channels(app.config), _settings()) is not None  # died while sending
    db.session.expire_all()
    assert {d.state for d in pending} == {"sending"}
    assert send_due(clock + timedelta(minutes=5)).sent == 0  # the lease still holds
    report = send_due(clock + timedelta(minutes=11))
    assert report.sent >= len(pending)
    assert users_told("resolution_overdue", item.id) == {"community1"}


# ------------------------------------------------------------------------------------------------
# Scope of recipients
# ------------------------------------------------------------------------------------------------


def test_every_recipient_may_see_what_they_are_told_about(app, ctx):
    """Against app.scope itself: each account told about a record has it in its scope."""
    from flask_appbuilder.security.sqla.models import User

    from app.core.scope import scope_for
    from models import Agreement, Meeting, PartyMember, ReminderDelivery, Resolution, UnitCheckin
    from tests.factories import is_visible

    world = ctx
    ensure_user(app, "zhaohong2", "CommunityAdmin", "红", "赵")
    give_scope(app, "zhaohong2", area_id=world["c2"])
    resolution(world, D, lead_person="赵红")  # the namesake in c2 must not hear of a c1 item
    resolution(world, D, community="c2", lead_person="赵红")
    planned_meeting(world, D + timedelta(days=1), attendees="赵红")
    for day in (D - timedelta(days=3), D, D + timedelta(days=1), D + timedelta(days=9), QUARTER_END - timedelta(10)):
        scan(day)
    models = {"resolution": Resolution, "meeting": Meeting, "party_member": PartyMember, "agreement": Agreement,
              "unit_checkin": UnitCheckin}
    rows = db.session.execute(select(ReminderDelivery).where(ReminderDelivery.recipient_type == "user")).scalars()
    checked = 0
    for delivery in rows:
        if delivery.target_type not in models:
            continue
        user = db.session.get(User, delivery.recipient_id)
        target = db.session.get(models[delivery.target_type], delivery.target_id)
        assert is_visible(target, scope_for(user)), (user.username, delivery.target_type, delivery.target_id)
        checked += 1
    assert checked > 10
    c2_user = app.appbuilder.sm.find_user(username="community2")
    told_c2 = db.session.execute(select(ReminderDelivery.target_type, ReminderDelivery.target_id).where(
        ReminderDelivery.recipient_id == c2_user.id, ReminderDelivery.target_type == "resolution")).all()
    assert told_c2 and all(db.session.get(Resolution, pk).community_id == world["c2"] for _t, pk in told_c2)


# ------------------------------------------------------------------------------------------------
# The bell, the notification screens and API, the delivery log
# ------------------------------------------------------------------------------------------------


def test_notifications_api_is_per_user(app, rules, api):
    from models import Notification

    with app.app_context():
        resolution(rules, D)
        resolution(rules, D, community="c2")
        scan(D + timedelta(days=1))
        user2 = app.appbuilder.sm.find_user(username="community2")
        theirs = db.session.execute(select(Notification.id).where(Notification.user_id == user2.id)).scalars().all()
    mine = api("community1")
    listed = mine.get("/api/v1/notification/").json
    c1_ids = {row["id"] for row in listed["result"]}
    assert c1_ids and listed["count"] == len(c1_ids)
    assert any(row["title"].startswith("【黄色预警】议定事项逾期预警") for row in listed["result"])
    assert theirs and not set(theirs) & c1_ids
    for pk in theirs:
        assert mine.get(f"/api/v1/notification/{pk}").status_code == 404
        assert mine.post(f"/api/v1/notification/{pk}/read").status_code == 404
    unread = mine.get("/api/v1/notification/unread_count").json["unread"]
    assert unread == len(c1_ids)
    first = sorted(c1_ids)[0]
    answer = mine.post(f"/api/v1/notification/{first}/read")
    assert answer.status_code == 200 and answer.json["unread"] == unread - 1
    assert mine.get(f"/api/v1/notification/{first}").json["result"]["read_at"] is not None
    assert mine.post("/api/v1/notification/read_all").json["unread"] == 0
    assert mine.get("/api/v1/notification/unread_count").json["unread"] == 0
    with app.app_context():
        assert all(db.session.get(Notification, pk).read_at is None for pk in theirs)  # theirs untouched
    assert mine.post("/api/v1/notification/", json={"title": "伪造"}).status_code == 405
    assert mine.delete(f"/api/v1/notification/{first}").status_code == 405
    assert api("nobody").get("/api/v1/notification/").status_code == 403


def test_bell_and_notification_screens(app, rules, browser):
    from models import Notification

    with app.app_context():
        resolution(rules, D)
        scan(D + timedelta(days=1))
        c1 = app.appbuilder.sm.find_user(username="community1")
        mine = db.session.execute(select(Notification.id, Notification.title).where(
            Notification.user_id == c1.id)).all()
        pk = next(pk for pk, title in mine if "议定事项逾期预警" in title)
    count = len(mine)
    user = browser("community1")
    home = user.get("/").get_data(as_text=True)
    assert 'id="gj-bell"' in home and f'data-unread="{count}"' in home
    assert "js/notifications.js" in home
    listing = user.get("/notificationview/list/").get_data(as_text=True)
    assert "议定事项逾期预警" in listing
    assert user.get("/notificationview/unread_count").json == {"unread": count}
    assert browser("community2").get(f"/notificationview/show/{pk}").status_code == 404
    page = user.get(f"/notificationview/show/{pk}")
    assert page.status_code == 200 and "/resolutionview/" in page.get_data(as_text=True)
    assert user.get("/notificationview/unread_count").json == {"unread": count - 1}  # opening it read it
    assert user.post("/notificationview/read_all", with_token_from="/notificationview/list/").status_code == 302
    assert 'data-unread="0"' in user.get("/").get_data(as_text=True)
    script = app.test_client().get("/static/js/notifications.js")
    assert script.status_code == 200 and b"unread" in script.data


def test_delivery_log_shows_failures_to_admins(app, rules, browser, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_WEBHOOK_URL", "http://127.0.0.1:9/robot")  # nothing listens
    with app.app_context():
        resolution(rules, D)
        scan(D + timedelta(days=1))
    page = browser("orgdept").get("/reminderdeliveryview/list/?_flt_0_state=failed")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "127.0.0.1:9" in html  # the failing channel's error is on the log
    assert browser("community1").get("/reminderdeliveryview/list/").status_code in (302, 403)
    assert browser("admin").get("/reminderruleview/list/").status_code == 200


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def test_remind_command_prints_sent_per_rule(app, ctx):
    resolution(ctx, D)
    result = run_cli(app, "gongjian", "remind", "--now", f"{D + timedelta(days=1)}T09:00")
    assert "resolution_overdue (议定事项逾期预警): sent" in result.output
    line = [ln for ln in result.output.splitlines() if ln.startswith("resolution_overdue")][0]
    assert int(line.split("sent ")[1].split(",")[0]) >= 1
    again = run_cli(app, "gongjian", "remind", "--now", f"{D + timedelta(days=1)}T09:00")
    assert "Total sent: 0" in again.output
    with unchanged(app):  # no notification, no delivery
        bad = app.test_cli_runner().invoke(args=["gongjian", "remind", "--now", "tomorrow"])
        assert bad.exit_code != 0 and "ISO" in bad.output


def test_warning_colour_as_sql_matches_python(app, ctx):
    """Exports of the resolution list carry the same colour (app.statistics.definitions.warning_sql)."""
    from app.statistics.definitions import warning_colour, warning_sql
    from models import WARNING_LEVELS, Resolution

    items = [resolution(ctx, D + timedelta(days=n)) for n in (-30, -8, -7, -1, 0, 3, 4, 30)]
    items.append(resolution(ctx, D - timedelta(days=30), status="done", evidence="已办结"))
    rows = dict(db.session.execute(select(Resolution.id, warning_sql(Resolution, today=D))
                                   .where(Resolution.id.in_([i.id for i in items]))).all())
    for item in items:
        colour = warning_colour(item.deadline, item.status, today=D)
        assert rows[item.id] == (str(WARNING_LEVELS.label(colour)) if colour else None), item.deadline
