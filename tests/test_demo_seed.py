"""`gongjian seed-demo` builds a demo district shaped like the field figures and the contract's users.

The seed runs once per module through the real CLI (`gongjian init`, then `gongjian seed-demo
--scale 0.1`) against a fresh app on a temporary SQLite data dir. The seed dates everything from
today, so the whole module runs on one pinned day (``TODAY``).
"""
from datetime import date

import pytest
from conftest import on_day
from sqlalchemy import func, select

DEMO_PASSWORD = "Demo-Passw0rd!"
EXPECTED_ROLES = {
    "admin": "Admin",
    "security": "SecurityAdmin",
    "orgdept": "OrgDept",
    "auditor": "Auditor",
    "street1": "StreetAdmin",
    "community1": "CommunityAdmin",
    "community2": "CommunityAdmin",
    "liaison1": "UnitLiaison",
}


def _invoke(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _parse_counts(output):
    counts = {}
    for line in output.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().isdigit():
            counts[name.strip()] = int(value)
    return counts


TODAY = date(2026, 11, 20)  # in 2026Q4: last quarter's reports are in, this quarter's partly


@pytest.fixture(scope="module", autouse=True)
def demo_day():
    """The seed and every test of the module on ``TODAY`` (before demo_app: autouse comes first)."""
    with on_day(TODAY):
        yield


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("gongjian-demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GONGJIAN_ENV", "testing")
        mp.setenv("GONGJIAN_DATA_DIR", str(data_dir))
        mp.setenv("GONGJIAN_DEMO_PASSWORD", DEMO_PASSWORD)
        mp.delenv("DATABASE_URL", raising=False)
        from app import create_app

        app = create_app({
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "UPLOAD_FOLDER": str(data_dir / "uploads"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir}/gongjian.sqlite",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}},
            "DEMO_PASSWORD": DEMO_PASSWORD,
            "CELERY_ALWAYS_EAGER": True,
        })
        _invoke(app, "gongjian", "init")
        result = _invoke(app, "gongjian", "seed-demo", "--scale", "0.1")
        app.config["SEED_COUNTS"] = _parse_counts(result.output)
        yield app
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ctx(demo_app):
    from app.extensions import db

    with demo_app.app_context():
        yield db.session
        db.session.rollback()


def _token(app, username, password=DEMO_PASSWORD):
    response = app.test_client().post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db"})
    return response


def _scope(session, app, username):
    from models import UserScope

    user = app.appbuilder.sm.find_user(username=username)
    return session.execute(select(UserScope).where(UserScope.user_id == user.id)).scalar_one()


def test_seed_printed_counts_of_every_kind(demo_app):
    counts = demo_app.config["SEED_COUNTS"]
    for name in ("areas_district", "areas_street", "areas_community", "areas_grid", "units", "unit_checkins",
                 "agreements", "needs", "resources", "projects", "project_claims", "party_members",
                 "member_checkins", "service_records", "evaluations", "meetings", "agenda_items", "resolutions",
                 "audit_entries"):
        assert counts.get(name, 0) > 0, (name, counts)
    assert counts["areas_district"] == 1
    assert counts["areas_street"] >= 2
    assert counts["demo_users"] == len(EXPECTED_ROLES)
    # Scale 0.1 of ~1,600 members and ~100 units.
    assert 140 <= counts["party_members"] <= 180
    assert counts["units"] >= 10


@pytest.mark.parametrize("username,role", sorted(EXPECTED_ROLES.items()))
def test_contract_user_has_role_and_logs_in(demo_app, ctx, username, role):
    user = demo_app.appbuilder.sm.find_user(username=username)
    assert user is not None and user.active
    assert [r.name for r in user.roles] == [role]
    response = _token(demo_app, username)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["access_token"]
    assert _token(demo_app, username, "wrong-password").status_code == 401


def test_scopes_of_street_community_and_liaison_users(demo_app, ctx):
    from models import UnitCheckin

    street1 = _scope(ctx, demo_app, "street1").area
    community1 = _scope(ctx, demo_app, "community1").area
    community2 = _scope(ctx, demo_app, "community2").area
    assert street1.level == "street"
    assert community1.level == "community" and community2.level == "community"
    assert community1.parent_id == street1.id
    assert community2.parent_id != community1.parent_id
    liaison = _scope(ctx, demo_app, "liaison1")
    assert liaison.unit is not None and liaison.area is None
    assert ctx.execute(select(UnitCheckin.id).where(
        UnitCheckin.unit_id == liaison.unit_id, UnitCheckin.area_id == community1.id,
        UnitCheckin.status == "confirmed")).first() is not None


def _api_ids(app, username, resource):
    token = _token(app, username).json["access_token"]
    client = app.test_client()
    ids, page, count = [], 0, None
    while True:
        response = client.get(f"/api/v1/{resource}/?q=(page:{page},page_size:100)",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        count = response.json["count"]
        rows = response.json["result"]
        ids += [row["id"] for row in rows]
        if len(rows) < 100:
            return ids, count
        page += 1


def test_community_admin_lists_only_members_of_their_community(demo_app, ctx):
    from models import PartyMember

    community1 = _scope(ctx, demo_app, "community1").area
    expected = set(ctx.scalars(select(PartyMember.id).where(PartyMember.community_id == community1.id)))
    total = ctx.scalar(select(func.count()).select_from(PartyMember))
    assert 0 < len(expected) < total
    ids, count = _api_ids(demo_app, "community1", "party_member")
    assert count == len(expected)
    assert set(ids) == expected and len(ids) == len(expected)
    # ...and the district-wide organisation department sees them all.
    ids, count = _api_ids(demo_app, "orgdept", "party_member")
    assert count == total


def test_community_id_is_derived_from_the_area(ctx):
    from models import Area, PartyMember, ServiceRecord

    for model in (PartyMember, ServiceRecord):
        rows = ctx.execute(select(model.community_id, Area.path).join(Area, Area.id == model.area_id)).all()
        assert rows
        paths = dict(ctx.execute(select(Area.id, Area.path).where(Area.level == "community")).all())
        for community_id, path in rows:
            assert community_id is not None and path.startswith(paths[community_id])


def test_every_resolution_status_and_approval_state_is_present(ctx):
    from models import Need, Project, ProjectClaim, Resolution, Resource
    from models.lists import APPROVAL_STATUS
    from models.meeting import RESOLUTION_STATUS

    statuses = set(ctx.scalars(select(Resolution.status).distinct()))
    assert statuses == set(RESOLUTION_STATUS.codes)
    for model in (Need, Resource, Project):
        assert set(ctx.scalars(select(model.status).distinct())) == set(APPROVAL_STATUS.codes), model
        assert ctx.scalar(select(func.count()).select_from(model).where(
            model.status == "rejected", (model.reject_reason.is_(None)) | (model.reject_reason == ""))) == 0
    assert ctx.scalar(select(func.count()).select_from(ProjectClaim)) > 0
    today = __import__("datetime").date.today()
    done = ctx.scalars(select(Resolution).where(Resolution.status == "done")).all()
    assert done and all(r.evidence and r.signed_off_at for r in done)
    overdue = ctx.scalars(select(Resolution).where(Resolution.status == "overdue")).all()
    assert overdue and all(r.deadline < today for r in overdue)


def test_checkins_agreements_and_meetings_cover_every_case(ctx):
    from datetime import date, timedelta

    from models import AgendaItem, Agreement, Meeting, MeetingType, MemberCheckin, PartyMember, UnitCheckin

    assert set(ctx.scalars(select(UnitCheckin.status).distinct())) == {"registered", "confirmed", "expired"}
    assert set(ctx.scalars(select(MemberCheckin.status).distinct())) == {"registered", "confirmed", "expired"}
    never = ctx.scalar(select(func.count()).select_from(PartyMember).where(
        ~PartyMember.id.in_(select(MemberCheckin.member_id))))
    assert never > 0
    today = date.today()
    assert ctx.scalar(select(func.count()).select_from(Agreement).where(Agreement.ends_on < today)) > 0
    assert ctx.scalar(select(func.count()).select_from(Agreement).where(
        Agreement.ends_on.between(today, today + timedelta(days=30)))) > 0
    types = set(ctx.scalars(select(MeetingType.id).where(MeetingType.active.is_(True))))
    assert set(ctx.scalars(select(Meeting.meeting_type_id).distinct())) == types
    # Every meeting has its agenda; minutes are there exactly for the meetings whose minutes are filed.
    assert ctx.scalar(select(func.count()).select_from(Meeting).where(
        ~Meeting.id.in_(select(AgendaItem.meeting_id)))) == 0
    filed = set(ctx.scalars(select(Meeting.id).where(Meeting.status == "minutes_filed")))
    assert filed and filed == set(ctx.scalars(select(Meeting.id).where(Meeting.minutes.is_not(None),
                                                                       Meeting.minutes != "")))
    assert ctx.scalar(select(func.count()).select_from(Meeting).where(Meeting.units.any())) > 0


def test_quarterly_reports_from_most_units_and_some_missing_this_quarter(demo_app, ctx):
    from datetime import date, timedelta

    from app.statistics.definitions import quarter_of
    from models import UnitCheckin, UnitReport

    this_quarter, this_start, _end = quarter_of(date.today())
    last_quarter, _start, last_end = quarter_of(this_start - timedelta(days=1))
    due = set(ctx.scalars(select(UnitCheckin.id).where(UnitCheckin.status == "confirmed",
                                                      UnitCheckin.confirmed_on <= last_end)))
    last = set(ctx.scalars(select(UnitReport.checkin_id).where(UnitReport.quarter == last_quarter)))
    assert due and last <= due and len(last) >= 0.7 * len(due)
    confirmed = set(ctx.scalars(select(UnitCheckin.id).where(UnitCheckin.status == "confirmed")))
    now = set(ctx.scalars(select(UnitReport.checkin_id).where(UnitReport.quarter == this_quarter)))
    assert now and confirmed - now  # some reported already, some are still missing
    assert ctx.scalar(select(func.count()).select_from(UnitReport).where(UnitReport.submitted_on > date.today())) == 0
    liaison = _scope(ctx, demo_app, "liaison1")
    assert not ctx.scalars(select(UnitReport.id).where(UnitReport.unit_id == liaison.unit_id,
                                                       UnitReport.quarter == this_quarter)).all()
    assert demo_app.config["SEED_COUNTS"]["unit_reports"] == ctx.scalar(select(func.count()).select_from(UnitReport))


def test_member_id_cards_unique_valid_and_gender_consistent(ctx):
    from app.core.formats import validate_id_card, validate_mobile
    from models import PartyMember

    rows = ctx.execute(select(PartyMember.id_card, PartyMember.id_card_digest, PartyMember.phone,
                              PartyMember.gender)).all()
    assert len({r.id_card for r in rows}) == len(rows)
    assert len({r.id_card_digest for r in rows}) == len(rows)
    assert len({r.phone for r in rows}) == len(rows)
    for row in rows:
        assert validate_id_card(row.id_card) == row.id_card
        assert validate_mobile(row.phone) == row.phone
        assert row.gender == ("male" if int(row.id_card[16]) % 2 else "female")


def test_units_have_valid_unique_credit_codes_of_every_type(ctx):
    from app.core.formats import validate_credit_code
    from models import Unit
    from models.unit import UNIT_TYPES

    rows = ctx.execute(select(Unit.credit_code, Unit.unit_type)).all()
    assert {r.unit_type for r in rows} == set(UNIT_TYPES.codes)
    assert len({r.credit_code for r in rows}) == len(rows)
    for row in rows:
        assert validate_credit_code(row.credit_code) == row.credit_code


def test_service_points_and_evaluations_follow_the_rules(ctx):
    from models import Evaluation, GradeOption, MemberCheckin, ServiceRecord, Setting

    per_hour = float(ctx.scalar(select(Setting.value).where(Setting.key == "points_per_hour")))
    records = ctx.execute(select(ServiceRecord.hours, ServiceRecord.points, ServiceRecord.member_id,
                                 ServiceRecord.unit_id)).all()
    assert records
    for r in records:
        assert 0.5 <= r.hours <= 4 and abs(r.points - r.hours * per_hour) < 1e-9
        assert r.member_id is not None or r.unit_id is not None
    bad = ctx.scalar(
        select(func.count()).select_from(Evaluation).join(GradeOption, GradeOption.id == Evaluation.grade_id)
        .where(GradeOption.requires_checkin.is_(True), ~Evaluation.member_id.in_(select(MemberCheckin.member_id))))
    assert bad == 0
    assert ctx.scalar(select(func.count()).select_from(Evaluation)) > 0


def test_only_orgdept_sees_personal_data_unmasked(demo_app, ctx):
    from models import PartyMember

    community1 = _scope(ctx, demo_app, "community1").area
    member = ctx.scalars(select(PartyMember).where(PartyMember.community_id == community1.id)).first()
    client = demo_app.test_client()
    shown = {}
    for username in ("orgdept", "community1"):
        token = _token(demo_app, username).json["access_token"]
        response = client.get(f"/api/v1/party_member/{member.id}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        shown[username] = response.json["result"]["id_card"]
    assert shown["orgdept"] == member.id_card
    assert shown["community1"] != member.id_card and "*" in shown["community1"]


def _created_entries(app):
    from app.extensions import db
    from models import AuditLog

    with app.app_context():
        rows = db.session.execute(select(AuditLog.record_type, func.count()).where(AuditLog.action == "create")
                                  .group_by(AuditLog.record_type)).all()
        db.session.remove()
    return dict(rows)


def test_second_seed_adds_nothing(demo_app):
    before = demo_app.config["SEED_COUNTS"]
    created_before = _created_entries(demo_app)
    assert created_before.get("party_member") == before["party_members"]
    result = _invoke(demo_app, "gongjian", "seed-demo", "--scale", "0.1")
    after = _parse_counts(result.output)
    assert "already exists" in result.output
    # Logins of the other tests add audit entries; no record is added.
    assert {k: v for k, v in after.items() if k != "audit_entries"} == \
        {k: v for k, v in before.items() if k != "audit_entries"}
    assert _created_entries(demo_app) == created_before


def test_audit_chain_verifies(demo_app):
    result = _invoke(demo_app, "gongjian", "audit", "verify")
    assert "OK" in result.output
