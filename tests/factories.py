"""Builders of test data: the contract's users (once per app) and a small district (per test)."""
import os
from datetime import date, timedelta

from sqlalchemy import text

from app.core.actor import acting_as
from app.core.audit_checkpoint import checkpoint_path
from app.demo.fakedata import FakeData
from app.demo.users import DEMO_USERS
from app.extensions import db

PASSWORD = "Test-Passw0rd!"
# The contract's demo users, plus an account whose only role is Public.
USERS = {**{name: role for name, (role, _label) in DEMO_USERS.items()}, "nobody": "Public"}
# Tables kept between tests (reference data and FAB's security tables).
KEPT_TABLES = {"grade_option", "meeting_type", "post_category", "service_quota", "setting", "alembic_version"}

fake = FakeData(seed=7)


def create_users(app):
    sm = app.appbuilder.sm
    for username, role in USERS.items():
        if sm.find_user(username=username) is None:
            sm.add_user(username, username, "测试", f"{username}@example.cn", sm.find_role(role), PASSWORD)


def user(app, username):
    return app.appbuilder.sm.find_user(username=username)


def clean_business_data(app):
    from flask_appbuilder import Model

    db.session.rollback()
    tables = [t for t in reversed(Model.metadata.sorted_tables)
              if not t.name.startswith("ab_") and t.name not in KEPT_TABLES]
    if db.engine.dialect.name == "postgresql":
        # The audit log refuses TRUNCATE; a superuser can switch triggers off for the session.
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()
    # The checkpoints of the audit chain just emptied go with it (app/core/audit_checkpoint.py).
    if os.path.exists(checkpoint_path(app.config)):
        os.remove(checkpoint_path(app.config))


def area(name, level, code, parent=None, **kw):
    from models import Area

    node = Area(name=name, level=level, code=code, parent=parent, **kw)
    db.session.add(node)
    return node


_issued_id_cards = set()


def new_id_card():
    """A generated ID-card number never handed out before in this test process: random numbers
    collide now and then, and one person may be registered only once."""
    number = fake.id_card()
    while number in _issued_id_cards:
        number = fake.id_card()
    _issued_id_cards.add(number)
    return number


def member(area_node, employer=None, name=None, **kw):
    from models import PartyMember

    row = PartyMember(name=name or fake.person_name(), id_card=kw.pop("id_card", None) or new_id_card(),
                      phone=kw.pop("phone", None) or fake.mobile(), area=area_node, employer=employer,
                      gender=kw.pop("gender", "female"), **kw)
    db.session.add(row)
    return row


def quarter_start(day):
    """("2026Q4", 2026-10-01): the label and first day of the calendar quarter holding ``day``."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    return f"{day.year}Q{(first_month + 2) // 3}", date(day.year, first_month, 1)


def build_world(app, today=None):
    """District 天山区 → 幸福街道 (community 幸福社区 with grids 1, 2) and 和平街道 (和平社区 with grid 1).

    Every date is relative to ``today`` (default: the clock's date, read once), so the world tells
    the same story whatever day it is built on; a test whose figures depend on the day pins the
    clock (``pytest.mark.today``, tests/conftest.py). ``ids["today"]`` is the day it was built on."""
    from models import Meeting, MeetingType, MemberCheckin, Resolution, ServiceRecord, Unit, UnitCheckin, UserScope

    today = today or date.today()
    with acting_as(None, via="test"):
        district = area("天山区", "district", "650102")
        street1 = area("幸福街道", "street", "650102001", district)
        street2 = area("和平街道", "street", "650102002", district)
        c1 = area("幸福社区", "community", "650102001001", street1)
        c2 = area("和平社区", "community", "650102002001", street2)
        g11 = area("幸福社区第一网格", "grid", "650102001001001", c1, grid_worker="田云", grid_worker_phone=fake.mobile())
        g12 = area("幸福社区第二网格", "grid", "650102001001002", c1)
        g21 = area("和平社区第一网格", "grid", "650102002001001", c2)
        unit1 = Unit(name="天山区市场监督管理局", unit_type="organ", credit_code=fake.credit_code(kind="1", cat="1"),
                     area=c1, member_count=30, liaison="王强", liaison_phone=fake.mobile())
        unit2 = Unit(name="和平供电公司", unit_type="soe", credit_code=fake.credit_code(), area=c2, member_count=80)
        db.session.add_all([unit1, unit2])
        db.session.flush()
        checkin1 = UnitCheckin(unit=unit1, area=c1, status="confirmed", registered_on=today - timedelta(30),
                               confirmed_on=today - timedelta(20))
        checkin2 = UnitCheckin(unit=unit2, area=c2, status="registered", registered_on=today - timedelta(10))
        m1 = member(g11, unit1, name="张丽")
        m2 = member(g21, unit2, name="李明")
        db.session.add_all([checkin1, checkin2])
        db.session.flush()
        db.session.add(MemberCheckin(member=m1, area=g11, status="confirmed", registered_on=today - timedelta(5)))
        db.session.add(ServiceRecord(member=m1, served_on=today - timedelta(2), hours=2, points=2,
                                     content="楼道杂物清理"))
        db.session.add(ServiceRecord(member=m2, served_on=today - timedelta(3), hours=1.5, points=1.5,
                                     content="政策宣讲"))
        mtype = db.session.query(MeetingType).filter_by(name="圆桌会议").one()
        meeting1 = Meeting(meeting_type=mtype, title="幸福社区圆桌会议", area=c1, convener="何涛", note_taker="田云",
                           held_at=today - timedelta(7), units=[unit1])
        meeting2 = Meeting(meeting_type=mtype, title="和平社区圆桌会议", area=c2, convener="赵红",
                           held_at=today - timedelta(7))
        db.session.add_all([meeting1, meeting2])
        db.session.add(Resolution(meeting=meeting1, title="更换燃气表电池", lead_person="田云", lead_unit=unit1,
                                  deadline=today + timedelta(10)))
        db.session.add(Resolution(meeting=meeting2, title="小区停车难", lead_person="赵红",
                                  deadline=today - timedelta(3), status="overdue"))
        _add_lists_and_evaluations(today, c1, c2, unit1, unit2, m1, m2, checkin1, checkin2, meeting1, meeting2)
        scopes = {"street1": {"area": street1}, "community1": {"area": c1}, "community2": {"area": c2},
                  "liaison1": {"unit": unit1}}
        for username, values in scopes.items():
            db.session.add(UserScope(user=user(app, username), **values))
        db.session.commit()
    ids = dict(district=district.id, street1=street1.id, street2=street2.id, c1=c1.id, c2=c2.id, g11=g11.id,
               g12=g12.id, g21=g21.id, unit1=unit1.id, unit2=unit2.id, m1=m1.id, m2=m2.id, meeting1=meeting1.id,
               meeting2=meeting2.id, checkin1=checkin1.id, checkin2=checkin2.id, today=today)
    db.session.remove()
    return ids


def _add_lists_and_evaluations(today, c1, c2, unit1, unit2, m1, m2, checkin1, checkin2, meeting1, meeting2):
    """One record of every other scoped kind in each community, so scope tests cover them all: an
    agreement from January 1 to the end of next year, last year's grade, last quarter's report
    (built on a day of 2026Q4: 2026-01-01..2027-12-31, "2025" and "2026Q3" sent on 2026-10-08)."""
    from models import (
        AgendaItem,
        Agreement,
        Evaluation,
        GradeOption,
        MemberCheckin,
        Need,
        Project,
        ProjectClaim,
        Resource,
        UnitReport,
    )

    basic = db.session.query(GradeOption).filter_by(name="基本合格").one()
    _this_quarter, this_start = quarter_start(today)
    last_quarter, _last_start = quarter_start(this_start - timedelta(days=1))
    for community, unit, person, checkin, meeting in ((c1, unit1, m1, checkin1, meeting1),
                                                      (c2, unit2, m2, checkin2, meeting2)):
        db.session.add(Agreement(checkin=checkin, title=f"{unit.name}共建协议", starts_on=date(today.year, 1, 1),
                                 ends_on=date(today.year + 1, 12, 31), signed_on=date(today.year, 1, 1)))
        db.session.add(Need(area=community, title=f"{community.name}独居老人探访", category="elderly"))
        db.session.add(Resource(area=community, unit=unit, title=f"{unit.name}会议室", category="venue"))
        project = Project(area=community, title=f"{community.name}充电桩", category="safety", status="approved")
        db.session.add(project)
        db.session.add(ProjectClaim(project=project, unit=unit, claimed_on=today))
        db.session.add(Evaluation(period=str(today.year - 1), member=person, grade=basic))
        db.session.add(AgendaItem(meeting=meeting, seq=1, title=f"{community.name}停车难"))
        # Last quarter's report, sent a week into this quarter: the current quarter (the reminder
        # tests' 2026Q4) stays unreported.
        db.session.add(UnitReport(checkin=checkin, quarter=last_quarter,
                                  submitted_on=min(this_start + timedelta(days=7), today),
                                  summary=f"{unit.name}三季度共建情况"))
    db.session.add(MemberCheckin(member=m2, area=m2.area, status="registered", registered_on=today))


# ---- what a refused request must not have written --------------------------------------------------

# Audit actions that record a change of a business record or a file handed out: a refusal may log
# itself ("denied", "login_failed", a duplicate's note...), never one of these (a decision,
# app/approvals/, is an update named "approve" or "reject").
WRITE_ACTIONS = ("create", "update", "delete", "export", "approve", "reject")


def business_state(app):
    """Row counts of every business table (FAB's ab_ tables and the audit log aside), audit entries
    recording a write or an export, and files under the data dir's exports/ and uploads."""
    import os

    from flask_appbuilder import Model
    from sqlalchemy import func, select

    from app.core.account_rows import ACCOUNT_TABLES
    from models import AuditLog

    # An account's own bookkeeping (its sessions, lock, password records, captchas) changes with
    # any login, refused or not: not a business write.
    bookkeeping = {model.__tablename__ for model in ACCOUNT_TABLES} | {"captcha_challenge", "audit_log"}
    state = {}
    with app.app_context():
        for table in Model.metadata.sorted_tables:
            if not table.name.startswith("ab_") and table.name not in bookkeeping:
                state[table.name] = db.session.execute(select(func.count()).select_from(table)).scalar()
        state["audit_log (writes)"] = db.session.execute(select(func.count(AuditLog.id)).where(
            AuditLog.action.in_(WRITE_ACTIONS))).scalar()
        db.session.remove()
    for key in ("DATA_DIR", "UPLOAD_FOLDER"):
        base = app.config.get(key)
        if base and key == "DATA_DIR":
            base = os.path.join(base, "exports")
        if base and os.path.isdir(base):
            state[f"files ({key})"] = sorted(os.path.join(d, n) for d, _s, names in os.walk(base) for n in names)
    return state


class unchanged:  # used as ``with unchanged(app):``, like a function
    """``with unchanged(app): <a refused request>`` asserts that the block wrote nothing: no row in
    any business table, no audit entry of a write or export, no export or upload file."""

    def __init__(self, app):
        self.app = app

    def __enter__(self):
        self.before = business_state(self.app)
        return self

    def __exit__(self, kind, _value, _traceback):
        if kind is None:
            after = business_state(self.app)
            changed = {k: (self.before.get(k), after.get(k)) for k in set(self.before) | set(after)
                       if self.before.get(k) != after.get(k)}
            assert not changed, f"a refused request wrote: {changed}"
        return False


def at_once(app, method, url, headers, bodies, urls=None):
    """One request per body (to ``url``, or to ``urls[i]`` for body i), each from its own thread with its own test client (so its own app
    context and session), released together by a barrier: writers arriving at the same moment.
    Returns the answers in the order of ``bodies``."""
    import threading

    barrier, answers = threading.Barrier(len(bodies)), [None] * len(bodies)

    def send(slot):
        client = app.test_client()
        barrier.wait(timeout=30)
        answers[slot] = client.open(urls[slot] if urls else url, method=method, headers=headers, json=bodies[slot])

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer never answered"
    return answers


def is_visible(item, scope=None):
    """Whether a loaded record is inside ``scope`` (default: the acting user's), asked of the
    database with the clause every list applies (app/core/scope.py ``clause``)."""
    from sqlalchemy import select

    from app.core.scope import clause

    model = type(item)
    where = clause(model, scope)
    if where is None:
        return True
    return db.session.execute(select(model.id).where(model.id == item.id).where(where)).first() is not None


class throwaway_account:  # used as ``with throwaway_account(app, "temp_worker") as pk:``
    """An account the test may change, lock or reset, removed afterwards (the contract's users
    outlive every test)."""

    def __init__(self, app, username, role="CommunityAdmin"):
        self.app, self.username, self.role = app, username, role

    def __enter__(self):
        with self.app.app_context():
            with acting_as(None, via="test"):
                sm = self.app.appbuilder.sm
                account = sm.add_user(self.username, "临时", "账号", f"{self.username}@example.org",
                                      [sm.find_role(self.role)], password=PASSWORD)
                pk = account.id
            db.session.remove()
        return pk

    def __exit__(self, *_exc):
        with self.app.app_context():
            with acting_as(None, via="test"):
                account = user(self.app, self.username)
                if account is not None:
                    db.session.delete(account)
                    db.session.commit()
            db.session.remove()
        return False


def units_in(app, area_id, prefix, count):
    """``count`` state-owned units named ``prefix0``, ``prefix1``… in an area; their ids."""
    from models import Area, Unit

    with app.app_context():
        area = db.session.get(Area, area_id)
        units = [Unit(name=f"{prefix}{slot}", unit_type="soe", area=area, member_count=1) for slot in range(count)]
        db.session.add_all(units)
        db.session.commit()
        ids = [unit.id for unit in units]
        db.session.remove()
    return ids
