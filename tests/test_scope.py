"""Scope: every screen and REST resource registered in the app, for users of two communities in
different streets, a street admin and a unit liaison. The matrix is generated from the registered
views and APIs, so a resource added later is covered without anyone remembering to."""
import pytest
from sqlalchemy import func, select

from app.core.actor import acting_as
from app.core.scope import restrict, scope_for
from app.extensions import db
from views.api_base import GongjianApi
from views.base import GongjianBaseView


def scoped_resources(app):
    """(api, view) pairs of every registered resource whose model belongs to an area."""
    apis = {v.model: v for v in app.appbuilder.baseviews if isinstance(v, GongjianApi)}
    views = {v.model: v for v in app.appbuilder.baseviews if isinstance(v, GongjianBaseView)}
    return [(apis.get(model), views.get(model)) for model in set(apis) | set(views)
            if hasattr(model, "area_id") and model.__tablename__ not in ("audit_log", "user_scope")]


def expected_ids(app, model, community_key, world):
    """Ids of the model's rows in the community's subtree, computed independently of app.scope."""
    from models import Area, Unit, UnitCheckin

    with app.app_context():
        community = db.session.get(Area, world[community_key])
        subtree = select(Area.id).where(Area.path.startswith(community.path))
        if model is Unit:
            query = select(Unit.id).where(Unit.area_id.in_(subtree) | Unit.id.in_(
                select(UnitCheckin.unit_id).where(UnitCheckin.area_id.in_(subtree))))
        elif model is Area:
            query = subtree
        else:
            query = select(model.id).where(model.area_id.in_(subtree))
        return set(db.session.execute(query).scalars())


def all_ids(app, model):
    with app.app_context():
        return set(db.session.execute(select(model.id)).scalars())


def test_every_scoped_model_has_rows_in_both_communities(app, world):
    for api, view in scoped_resources(app):
        model = (api or view).model
        assert expected_ids(app, model, "c1", world), model
        assert expected_ids(app, model, "c2", world), model


@pytest.mark.parametrize("username,community", [("community1", "c1"), ("community2", "c2")])
def test_api_list_and_get_stay_in_scope(username, community, app, world, api):
    from tests.factories import unchanged

    client = api(username)
    for resource_api, _view in scoped_resources(app):
        if resource_api is None:
            continue
        model = resource_api.model
        url = f"/api/v1/{resource_api.resource_name}/"
        listed = client.get(url + "?q=(page_size:100)")
        assert listed.status_code == 200, (url, listed.json)
        mine = expected_ids(app, model, community, world)
        assert {row["id"] for row in listed.json["result"]} == mine, url
        assert listed.json["count"] == len(mine)
        with unchanged(app):  # an out-of-scope id is neither changed nor deleted
            for other in all_ids(app, model) - mine:
                assert client.get(f"{url}{other}").status_code == 404, (url, other)
                assert client.put(f"{url}{other}", json={}).status_code == 404, (url, other)
                assert client.delete(f"{url}{other}").status_code == 404, (url, other)


def test_screens_answer_404_out_of_scope(app, world, browser):
    user = browser("community1")
    for _api, view in scoped_resources(app):
        if view is None:
            continue
        base = view.route_base
        mine = expected_ids(app, view.model, "c1", world)
        others = all_ids(app, view.model) - mine
        page = user.get(f"{base}/list/")
        assert page.status_code == 200, base
        for other in others:
            assert user.get(f"{base}/show/{other}").status_code == 404, (base, other)
            assert user.get(f"{base}/edit/{other}").status_code == 404, (base, other)
            deleted = user.post(f"{base}/delete/{other}", with_token_from="/partymemberview/add")
            assert deleted.status_code == 404, (base, other)
        assert all_ids(app, view.model) >= others  # nothing out of scope was deleted


def test_bulk_action_ignores_out_of_scope_rows(app, world, browser):
    from models import PartyMember

    user = browser("community1")
    response = user.client.post("/partymemberview/action_post", data={
        "action": "muldelete", "rowid": [str(world["m2"])], "csrf_token": user.csrf_token("/partymemberview/add")})
    assert response.status_code == 404
    assert world["m2"] in all_ids(app, PartyMember)
    with app.app_context():
        from models import Area
        from tests.factories import member

        fresh = member(db.session.get(Area, world["g12"]), name="新党员")
        db.session.commit()
        fresh_id = fresh.id
    response = user.client.post("/partymemberview/action_post", data={
        "action": "muldelete", "rowid": [str(fresh_id), str(world["m2"])],
        "csrf_token": user.csrf_token("/partymemberview/add")})
    assert response.status_code == 302
    assert all_ids(app, PartyMember) == {world["m1"], world["m2"]}


def test_bulk_action_needs_csrf_token(app, world, browser):
    from models import PartyMember

    user = browser("community1")
    response = user.client.post("/partymemberview/action_post", data={"action": "muldelete",
                                                                      "rowid": [str(world["m1"])]})
    assert response.status_code == 400
    assert world["m1"] in all_ids(app, PartyMember)


def test_related_field_choices_are_scoped(app, world, browser, api):
    from models import Area

    mine = expected_ids(app, Area, "c1", world)
    form = browser("community1").get("/partymemberview/add").get_data(as_text=True)
    assert "和平社区" not in form and "幸福社区第一网格" in form
    info = api("community1").get("/api/v1/party_member/_info?q=(keys:!(add_columns))")
    area_field = [c for c in info.json["add_columns"] if c["name"] == "area"][0]
    assert {v["id"] for v in area_field["values"]} <= mine


def test_create_or_move_out_of_scope_is_refused(app, world, api):
    from tests.factories import unchanged

    client = api("community1")
    with unchanged(app):
        response = client.post("/api/v1/party_member/", json={"name": "越界", "id_card": "11010519491231002X",
                                                              "area": world["g21"]})
        assert response.status_code == 400 and "area" in response.json["message"]
        moved = client.put(f"/api/v1/party_member/{world['m1']}", json={"area": world["g21"]})
        assert moved.status_code == 400 and "area" in moved.json["message"]
    from models import PartyMember

    with app.app_context():
        assert db.session.get(PartyMember, world["m1"]).area_id == world["g11"]


def test_street_admin_sees_its_communities_only(app, world, api):
    listed = api("street1").get("/api/v1/party_member/?q=(page_size:100)").json["result"]
    assert {row["id"] for row in listed} == {world["m1"]}


def test_unit_liaison_sees_own_unit_only(app, world, api):
    client = api("liaison1")
    assert {r["id"] for r in client.get("/api/v1/party_member/").json["result"]} == {world["m1"]}
    assert {r["id"] for r in client.get("/api/v1/unit/").json["result"]} == {world["unit1"]}
    assert {r["unit_id"] for r in client.get("/api/v1/unit_checkin/").json["result"]} == {world["unit1"]}
    assert client.get(f"/api/v1/party_member/{world['m2']}").status_code == 404


def test_district_roles_see_everything_and_public_nothing(app, world, api):
    from models import PartyMember

    assert api("orgdept").get("/api/v1/party_member/").json["count"] == len(all_ids(app, PartyMember))
    assert api("nobody").get("/api/v1/party_member/").status_code == 403


def test_home_page_counts_only_the_users_area(app, world, browser):
    page = browser("community1").get("/").get_data(as_text=True)
    assert "幸福社区" in page
    assert 'data-count="members">1<' in page
    page = browser("orgdept").get("/").get_data(as_text=True)
    assert 'data-count="members">2<' in page


def test_restrict_helper_matches_interface(app, world):
    """The helper that exports and tasks use gives the same rows as the screens."""
    from models import ServiceRecord

    with app.app_context():
        user = app.appbuilder.sm.find_user(username="community2")
        rows = db.session.execute(restrict(select(ServiceRecord.id), ServiceRecord, scope_for(user))).scalars()
        assert set(rows) == expected_ids(app, ServiceRecord, "c2", world)


def test_screen_filter_by_community(app, world, browser):
    """Regression: on PostgreSQL the URL's text id failed against the integer column."""
    html = browser("orgdept").get(f"/partymemberview/list/?_flt_0_community={world['c1']}").get_data(as_text=True)
    assert "张丽" in html and "李明" not in html


def test_name_starts_with_on_screen_and_api(app, world, browser, api):
    html = browser("orgdept").get("/partymemberview/list/?_flt_0_name=张").get_data(as_text=True)
    assert "张丽" in html and "李明" not in html
    rows = api("orgdept").get("/api/v1/party_member/?q=(filters:!((col:name,opr:sw,value:'李')))").json["result"]
    assert [r["name"] for r in rows] == ["李明"]
    rows = api("orgdept").get("/api/v1/party_member/?q=(filters:!((col:name,opr:sw,value:'%')))").json["result"]
    assert rows == []  # a wildcard is a character, not a pattern


def test_new_parent_and_child_areas_in_one_flush(app, world):
    """Regression: a child processed before its new parent had no path to build on."""
    from models import Area

    with app.app_context():
        with acting_as(None):
            district = db.session.get(Area, world["district"])
            street = Area(name="新街道", level="street", code="650102009", parent=district)
            community = Area(name="新社区", level="community", code="650102009001", parent=street)
            grid = Area(name="新网格", level="grid", code="650102009001001", parent=community)
            db.session.add_all([grid, community, street])
            db.session.commit()
            assert grid.path == "/650102/650102009/650102009001/650102009001001/"


def test_deep_pages_match_plain_offset_paging(app, world, api, monkeypatch):
    """Deep pages page through ids first: same rows, same order as plain OFFSET paging."""
    from app.core.scoped_interface import ScopedInterface
    from models import Area

    with app.app_context():
        with acting_as(None):
            grid = db.session.get(Area, world["g11"])
            for i in range(25):
                db.session.add(__import__("models").ServiceRecord(
                    member_id=world["m1"], area=grid, served_on=__import__("datetime").date(2026, 1, 1 + i % 28),
                    hours=1, points=1, content=f"巡逻{i}"))
            db.session.commit()
    client = api("community1")
    plain = [client.get(f"/api/v1/service_record/?q=(page:{p},page_size:4,order_column:served_on,"
                        f"order_direction:asc)").json["result"] for p in range(8)]
    monkeypatch.setattr(ScopedInterface, "deep_page_offset", 4)
    deferred = [client.get(f"/api/v1/service_record/?q=(page:{p},page_size:4,order_column:served_on,"
                           f"order_direction:asc)").json["result"] for p in range(8)]
    assert [[r["id"] for r in page] for page in deferred] == [[r["id"] for r in page] for page in plain]
    assert sum(len(page) for page in plain) == 26  # 25 + the world's record in community1


def test_scope_registries_name_mapped_models_without_an_area_of_their_own():
    """Every model a scope rule names is a mapped table, and the rules do not overlap: a shared or
    per-user model has no ``area_id`` that the rule would silently override, and no model is both
    shared and given a rule of its own."""
    from flask_appbuilder import Model

    from app.core.scope import AREA_RULES, PER_USER, SHARED_REFERENCE
    from models.unit_scope import UNIT_SCOPES

    mapped = {mapper.class_ for mapper in Model.registry.mappers}
    for registry in (SHARED_REFERENCE, PER_USER, AREA_RULES, UNIT_SCOPES):
        assert set(registry) <= mapped
        assert all(model.__tablename__ in Model.metadata.tables for model in registry)
    assert not any(hasattr(model, "area_id") for model in SHARED_REFERENCE | PER_USER)
    assert not SHARED_REFERENCE & PER_USER
    assert not (SHARED_REFERENCE | PER_USER) & (set(AREA_RULES) | set(UNIT_SCOPES))


# ---- the rules a broken scope would silently widen (issue 20) -------------------------------
def _account(app, username, role):
    """An account holding ``role`` and (as the world built it) no scope row."""
    from tests.factories import PASSWORD

    with app.app_context():
        sm = app.appbuilder.sm
        if sm.find_user(username=username) is None:
            sm.add_user(username, username, "测试", f"{username}@example.cn", sm.find_role(role), PASSWORD)


def _set_scope(app, username, **values):
    from models import UserScope
    from tests.factories import user

    with app.app_context():
        with acting_as(None, via="test"):
            account = user(app, username)
            row = db.session.query(UserScope).filter_by(user_id=account.id).one_or_none()
            if row is None:
                row = UserScope(user=account)
                db.session.add(row)
            row.area_id = values.get("area_id")
            row.unit_id = values.get("unit_id")
            db.session.commit()


def _assert_sees_nothing(app, world, username, api, browser):
    from app.exports.resources import resources

    client = api(username)
    checked = 0
    for resource_api, _view in scoped_resources(app):
        if resource_api is None:
            continue
        listed = client.get(f"/api/v1/{resource_api.resource_name}/?q=(page_size:100)")
        assert listed.status_code == 200, (resource_api.resource_name, listed.json)
        assert listed.json["count"] == 0 and listed.json["result"] == [], resource_api.resource_name
        checked += 1
    assert checked >= 10
    user = browser(username)
    for _api, view in scoped_resources(app):
        if view is None:
            continue
        page = user.get(f"{view.route_base}/list/")
        assert page.status_code == 200, view.route_base
        assert f"{view.route_base}/show/" not in page.get_data(as_text=True), view.route_base
    with app.app_context():
        exportable = sorted(resources())
    for name in ("party_member", "unit", "meeting", "service_record"):
        assert name in exportable
        job = client.post("/api/v1/export_job/", json={"resource": name, "format": "csv"}).json["result"]
        assert job["state"] == "done" and job["row_count"] == 0, (name, job)
    home = user.get("/").get_data(as_text=True)
    for key in ("units", "units_checked_in", "members", "members_checked_in", "meetings", "open_resolutions",
                "overdue_resolutions"):
        assert f'data-count="{key}">0<' in home, key


def test_a_list_screen_shows_record_links_when_it_has_rows(app, world, browser):
    """What the no-scope test relies on: a list with rows links to each row's show page."""
    page = browser("community1").get("/partymemberview/list/").get_data(as_text=True)
    assert "/partymemberview/show/" in page


def test_an_account_without_a_scope_row_sees_no_record_on_any_list_api_export_or_home_page(
        app, world, api, browser):
    _account(app, "unscoped_community", "CommunityAdmin")
    _assert_sees_nothing(app, world, "unscoped_community", api, browser)


def test_an_account_with_an_empty_scope_row_sees_no_record_on_any_list_api_export_or_home_page(
        app, world, api, browser):
    _account(app, "empty_scope_community", "CommunityAdmin")
    _set_scope(app, "empty_scope_community")
    _assert_sees_nothing(app, world, "empty_scope_community", api, browser)


def test_a_liaison_with_an_area_sees_only_their_units_records_inside_that_area(app, world, api):
    """A liaison scoped to a unit AND an area sees the records that are both: not another unit's
    record in the area, nor their unit's record outside the area."""
    from models import Area, Unit
    from tests.factories import member

    with app.app_context():
        with acting_as(None, via="test"):
            g11, g12 = db.session.get(Area, world["g11"]), db.session.get(Area, world["g12"])
            unit1, unit2 = db.session.get(Unit, world["unit1"]), db.session.get(Unit, world["unit2"])
            other_unit_in_area = member(g11, unit2, name="区内他单位")
            own_unit_outside_area = member(g12, unit1, name="本单位区外")
            db.session.commit()
            other_id, outside_id = other_unit_in_area.id, own_unit_outside_area.id
    _account(app, "liaison_area", "UnitLiaison")
    _set_scope(app, "liaison_area", area_id=world["g11"], unit_id=world["unit1"])
    client = api("liaison_area")
    listed = client.get("/api/v1/party_member/?q=(page_size:100)").json
    assert {row["id"] for row in listed["result"]} == {world["m1"]}
    assert listed["count"] == 1
    for other in (other_id, outside_id, world["m2"]):
        assert client.get(f"/api/v1/party_member/{other}").status_code == 404, other


def test_a_filter_by_an_out_of_scope_related_record_acts_as_for_one_that_does_not_exist(app, world, browser, api):
    """Filtering a list by a related record (an employer, a lead unit) the user cannot see finds
    what a filter by an id that does not exist finds — never the rows pointing at that record —
    on the screen and in the API: the related record is looked up through the scope."""
    from datetime import timedelta

    from app.core.scoped_interface import ScopedInterface
    from models import Area, Meeting, PartyMember, Resolution, Unit
    from tests.factories import member

    with app.app_context():
        with acting_as(None, via="test"):
            unit2 = db.session.get(Unit, world["unit2"])
            member(db.session.get(Area, world["g11"]), unit2, name="外单位在职党员")
            db.session.add(Resolution(meeting=db.session.get(Meeting, world["meeting1"]), title="外单位牵头事项",
                                      lead_person="赵红", lead_unit=unit2, deadline=world["today"] + timedelta(9)))
            db.session.commit()
    missing = 999999
    client = api("community1")

    def members(unit_id):
        query = f"/api/v1/party_member/?q=(filters:!((col:employer,opr:rel_o_m,value:{unit_id})),page_size:100)"
        response = client.get(query)
        assert response.status_code == 200, response.json
        return sorted(row["name"] for row in response.json["result"])

    assert "外单位在职党员" not in members(world["unit2"])
    assert members(world["unit2"]) == members(missing)
    assert members(world["unit1"]) == ["张丽"]
    user = browser("community1")

    def resolutions(unit_id):
        page = user.get(f"/resolutionview/list/?_flt_0_lead_unit={unit_id}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return [title for title in ("外单位牵头事项", "更换燃气表电池", "小区停车难") if title in html]

    assert "外单位牵头事项" not in resolutions(world["unit2"])
    assert resolutions(world["unit2"]) == resolutions(missing)
    assert resolutions(world["unit1"]) == ["更换燃气表电池"]
    with app.app_context():
        community1 = app.appbuilder.sm.find_user(username="community1")
        with acting_as(community1, via="test"):
            interface = ScopedInterface(PartyMember, db.session)
            assert interface.get_related_obj("community", world["c2"]) is None
            assert interface.get_related_obj("employer", world["unit2"]) is None
            assert interface.get_related_obj("community", world["c1"]).id == world["c1"]
            assert interface.get_related_obj("community", "x") is None


def test_the_auditor_sees_the_whole_districts_audit_log(app, world, api, browser):
    """The auditor has no scope row and reads every area's audit entries (and every record)."""
    from models import AuditLog, PartyMember

    with app.app_context():
        total = db.session.query(AuditLog).count()
        areas = {a for (a,) in db.session.query(AuditLog.area_id).distinct() if a is not None}
    assert total > 0 and len(areas) >= 2, areas  # the world's entries lie in several areas
    client = api("auditor")
    listed = client.get("/api/v1/audit_log/?q=(page_size:1)")
    assert listed.status_code == 200
    assert listed.json["count"] >= total  # reading writes entries of its own, never fewer
    assert client.get("/api/v1/party_member/").json["count"] == len(all_ids(app, PartyMember))
    page = browser("auditor").get("/auditlogview/list/").get_data(as_text=True)
    assert "/auditlogview/show/" in page


# ---- areas: where a scoped user may add or move one ------------------------------------------------


def _area_row(app, pk):
    from models import Area

    with app.app_context():
        area = db.session.get(Area, pk)
        row = (area.parent_id, area.name, area.path)
        db.session.remove()
        return row


def test_a_community_admin_adds_and_edits_areas_inside_their_community_only(app, world, api):
    """A community admin adds a grid under their community and renames it; a grid under another
    community, a top-level area, or moving their grid to another community is refused naming
    ``parent``, and the stored area is left as it was."""
    from tests.factories import unchanged

    client = api("community1")
    created = client.post("/api/v1/area/", json={"parent": world["c1"], "level": "grid", "name": "幸福社区第三网格",
                                                 "code": "650102001001003"})
    assert created.status_code == 201, created.json
    grid = created.json["id"]
    assert _area_row(app, grid)[2] == "/650102/650102001/650102001001/650102001001003/"
    renamed = client.put(f"/api/v1/area/{grid}", json={"name": "幸福社区三网格"})
    assert renamed.status_code == 200, renamed.json
    assert _area_row(app, grid)[:2] == (world["c1"], "幸福社区三网格")
    for body in ({"parent": world["c2"], "level": "grid", "name": "越界网格", "code": "650102002001009"},
                 {"level": "district", "name": "越界区", "code": "650199"}):
        with unchanged(app):
            refused = client.post("/api/v1/area/", json=body)
        assert refused.status_code == 400 and "parent" in refused.json["message"], (body, refused.json)
    with unchanged(app):
        moved = client.put(f"/api/v1/area/{grid}", json={"parent": world["c2"]})
    assert moved.status_code == 400 and "parent" in moved.json["message"], moved.json
    assert _area_row(app, grid)[:2] == (world["c1"], "幸福社区三网格")


def test_a_street_admin_adds_a_community_under_their_street(app, world, api):
    created = api("street1").post("/api/v1/area/", json={"parent": world["street1"], "level": "community",
                                                         "name": "新风社区", "code": "650102001002"})
    assert created.status_code == 201, created.json
    assert _area_row(app, created.json["id"])[0] == world["street1"]


@pytest.mark.parametrize("scope_of, area_name, inside", [
    ("community", "c1", True), ("community", "g11", True), ("community", "c2", False),
    ("community", "street1", False), ("community", None, False),
    ("liaison", "c2", True), ("liaison", None, True),  # a unit's scope has no area: every area's records, its unit's only
    ("empty", "c1", False), ("empty", None, False),
    ("unrestricted", "c2", True), ("unrestricted", None, True),
])
def test_whether_an_area_is_inside_a_scope(app, world, scope_of, area_name, inside):
    """The rule every write and report asks (app/core/scope.py area_in_scope), with the scope
    given: it is that scope's answer, not the acting user's (here the organisation department)."""
    from app.core.scope import UNRESTRICTED, Scope, area_in_scope
    from models import Area

    with app.app_context():
        with acting_as(None, via="test"):
            c1 = db.session.get(Area, world["c1"])
            scopes = {"community": Scope(area_path=c1.path), "liaison": Scope(unit_id=world["unit1"]),
                      "empty": Scope(), "unrestricted": UNRESTRICTED}
            area = db.session.get(Area, world[area_name]) if area_name else None
            assert area_in_scope(area, scopes[scope_of]) is inside
        db.session.remove()


def test_a_liaison_reads_every_shared_reference_row_and_their_own_notifications(app, world, api):
    """A unit's scope narrows records of units, not the reference data every area shares (meeting
    types, the grading scale, service posts) nor the account's own notifications."""
    from models import GradeOption, MeetingType, Notification, PostCategory
    from tests.factories import user

    with app.app_context():
        with acting_as(None, via="test"):
            db.session.add(Notification(user_id=user(app, "liaison1").id, title="请提交本季度报到回执"))
            db.session.commit()
        expected = {resource: db.session.execute(select(func.count(model.id))).scalar_one()
                    for resource, model in (("meeting_type", MeetingType), ("grade_option", GradeOption),
                                            ("post_category", PostCategory))}
        db.session.remove()
    client = api("liaison1")
    for resource, count in expected.items():
        response = client.get(f"/api/v1/{resource}/?q=(page_size:100)")
        assert response.status_code == 200 and count > 0
        assert response.json["count"] == count, resource
    titles = [row["title"] for row in client.get("/api/v1/notification/").json["result"]]
    assert titles == ["请提交本季度报到回执"]
