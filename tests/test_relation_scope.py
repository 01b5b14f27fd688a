"""Every relation a write sets is in the writer's scope (issue 12, "every relation written is in
scope"): pointing a record at a member, unit, project, area, meeting... outside the scope is refused
exactly as if that record did not exist — 400 naming the relation, the same message as for an id
that does not exist, and nothing written.

The API cases are generated from the app's registry: every registered ``GongjianApi`` with add or
edit columns, every many-to-one and many-to-many relation among those columns whose target model is
area- or unit-scoped, POST and PUT, for a community admin (every such relation) and a unit liaison
(the unit-scoped ones). A relation added later is walked without anyone listing it here; a new
*target* model needs an entry in ``OUTSIDE`` (the test says so)."""
import itertools
import re
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from flask_appbuilder import Model
from sqlalchemy import event, func, select
from sqlalchemy import inspect as sa_inspect

from app.core.actor import acting_as
from app.core.roles import ROLES
from app.core.scope import AREA_RULES, NO_SUCH_RECORD, PER_USER, SHARED_REFERENCE, ScopeViolation, restrict, scope_for
from app.extensions import db
from models.unit_scope import UNIT_SCOPES
from tests.factories import fake, member, user
from views.api_base import GongjianApi

WRITERS = {"community1": "CommunityAdmin", "liaison1": "UnitLiaison"}
MISSING_ID = 987654321
_codes = itertools.count(900)


# --- the cases, from the registry ----------------------------------------------------------------


def area_or_unit_scoped(model):
    return model not in SHARED_REFERENCE and (model.__tablename__ == "area" or hasattr(model, "area_id")
                                              or model in AREA_RULES or unit_scoped(model))


def unit_scoped(model):
    return model in UNIT_SCOPES or model in PER_USER


def writable_apis(app, username):
    role = WRITERS[username]
    return [view for view in app.appbuilder.baseviews
            if isinstance(view, GongjianApi) and (view.add_columns or view.edit_columns)
            and not getattr(view, "requests_are_reads", False)
            and ("can_write", view.class_permission_name) in ROLES[role]]


def relation_cases(app, username):
    """(api, relation, verb, target model, is many-to-many) the writer can send."""
    cases = []
    for view in writable_apis(app, username):
        datamodel = view.datamodel
        for verb, columns in (("post", view.add_columns), ("put", view.edit_columns)):
            for col in columns or ():
                many = datamodel.is_relation_many_to_many(col)
                if not (many or datamodel.is_relation_many_to_one(col)):
                    continue
                target = datamodel.get_related_model(col)
                wanted = unit_scoped(target) if username == "liaison1" else area_or_unit_scoped(target)
                if wanted:
                    cases.append((view, col, verb, target, many))
    return cases


# --- records outside the writer's scope (made by the system, which is unrestricted) -------------


def _area(world, models):
    node = models.Area(name=f"外部网格{next(_codes)}", level="grid", code=f"650102002001{next(_codes)}",
                       parent=db.session.get(models.Area, world["c2"]))
    db.session.add(node)
    return node


def _unit(world, models):
    unit = models.Unit(name=f"外区单位{next(_codes)}", unit_type="private", credit_code=fake.credit_code(),
                       area=db.session.get(models.Area, world["c2"]), member_count=3)
    db.session.add(unit)
    return unit


def _member(world, models):
    return member(db.session.get(models.Area, world["g21"]), db.session.get(models.Unit, world["unit2"]))


def _unit_checkin(world, models):
    checkin = models.UnitCheckin(unit=_unit(world, models), area=db.session.get(models.Area, world["c2"]),
                                 status="registered", registered_on=date.today())
    db.session.add(checkin)
    return checkin


def _project(world, models):  # pending, claimed by nobody: not even a liaison sees it
    project = models.Project(area=db.session.get(models.Area, world["c2"]), title=f"外区项目{next(_codes)}",
                             category="other", status="pending")
    db.session.add(project)
    return project


def _need(world, models):
    need = models.Need(area=db.session.get(models.Area, world["c2"]), title=f"外区需求{next(_codes)}",
                       category="other")
    db.session.add(need)
    return need


def _meeting(world, models):  # no unit attends it
    meeting = models.Meeting(meeting_type=db.session.execute(select(models.MeetingType)).scalars().first(),
                             title=f"外区会议{next(_codes)}", area=db.session.get(models.Area, world["c2"]),
                             convener="赵红", held_at=datetime.combine(date.today(), time(9)))
    db.session.add(meeting)
    return meeting


OUTSIDE = {"area": _area, "unit": _unit, "party_member": _member, "unit_checkin": _unit_checkin,
           "project": _project, "need": _need, "meeting": _meeting}


def make_outside(app, model, world):
    """A new record of ``model`` in the other community, made by the system; its id."""
    import models

    factory = OUTSIDE.get(model.__tablename__)
    if factory is None:
        pytest.fail(f"{model.__tablename__} is the target of a relation: add a factory to OUTSIDE")
    with app.app_context(), acting_as(None, via="test"):
        record = factory(world, models)
        db.session.commit()
        return record.id


def target_visible(app, model, pk, username):
    """Whether the writer can read the record (the read side of the scope, tests/test_scope.py)."""
    from tests.factories import is_visible

    with app.app_context():
        visible = is_visible(db.session.get(model, pk), scope_for(user(app, username)))
        db.session.remove()
    return visible


# --- what a write may have changed ---------------------------------------------------------------


def business_tables():
    return [t for t in Model.metadata.sorted_tables if not t.name.startswith("ab_")]


def snapshot(app, model, pk):
    """Row counts of every table but the audit log, audit entries about ``model`` (and ``pk``),
    and the record ``pk`` with its many-to-many links."""
    from models import AuditLog

    with app.app_context():
        counts = {t.name: db.session.execute(select(func.count()).select_from(t)).scalar()
                  for t in business_tables() if t.name != "audit_log"}
        audit = db.session.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.record_type == model.__tablename__)).scalar()
        row = record = None
        if pk is not None:
            row = dict(db.session.execute(select(model.__table__).where(model.id == pk)).mappings().one())
            links = {}
            for rel in sa_inspect(model).relationships:
                if rel.secondary is not None:
                    column = next(c for c in rel.secondary.c if c.references(model.__table__.c.id))
                    links[rel.key] = sorted(tuple(r) for r in db.session.execute(
                        select(rel.secondary).where(column == pk)).all())
            record = (row, links)
        db.session.remove()
    return counts, audit, record


def in_scope_record(app, model, username):
    """An existing record of ``model`` the writer sees, preferably one whose own relations the
    writer sees too (a community's own area hangs under a street the community admin cannot use)."""
    from tests.factories import is_visible

    with app.app_context():
        scope = scope_for(user(app, username))
        ids = db.session.execute(restrict(select(model.id), model, scope).order_by(model.id)).scalars().all()
        assert ids, (model.__tablename__, username)
        relations = [rel.key for rel in sa_inspect(model).relationships if rel.direction.name == "MANYTOONE"]
        pk = next((pk for pk in ids if all(
            target is None or is_visible(target, scope)
            for target in (getattr(db.session.get(model, pk), key) for key in relations))), ids[0])
        db.session.remove()
    return pk


def jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def body_from(app, view, pk, columns):
    """A POST body copied from record ``pk`` (full stored values: the system reads it)."""
    with app.app_context():
        item = db.session.get(view.model, pk)
        body = {}
        for col in columns:
            value = getattr(item, col)
            if view.datamodel.is_relation_many_to_many(col):
                body[col] = [target.id for target in value]
            elif view.datamodel.is_relation_many_to_one(col):
                body[col] = value.id if value is not None else None
            elif value is not None and not view.datamodel.is_file(col) and not view.datamodel.is_image(col):
                body[col] = jsonable(value)
        if "id_card" in body:
            body["id_card"] = fake.id_card()  # one person, once
        db.session.remove()
    return body


def other_relations_visible(app, view, body, col, username):
    """Whether every relation of ``body`` but ``col`` points at a record the writer sees."""
    from tests.factories import is_visible

    with app.app_context():
        scope = scope_for(user(app, username))
        for name, value in body.items():
            if name == col or value in (None, []) or not (view.datamodel.is_relation_many_to_one(name)
                                                          or view.datamodel.is_relation_many_to_many(name)):
                continue
            model = view.datamodel.get_related_model(name)
            for target_id in value if isinstance(value, list) else [value]:
                if not is_visible(db.session.get(model, target_id), scope):
                    return False
        db.session.remove()
    return True


# --- the generated walk --------------------------------------------------------------------------


@pytest.mark.parametrize("username", list(WRITERS))
def test_every_relation_written_through_the_api_stays_in_scope(username, app, world, api):
    client = api(username)
    cases = relation_cases(app, username)
    assert cases, username
    outside, problems, walked = {}, [], 0
    for view, col, verb, target, many in cases:
        if target not in outside:
            outside[target] = make_outside(app, target, world)
            assert not target_visible(app, target, outside[target], username), target
        out_id = outside[target]
        url, english = f"/api/v1/{view.resource_name}/", "?_l_=en"
        pk = in_scope_record(app, view.model, username)
        if verb == "post":
            body = body_from(app, view, pk, view.add_columns)
            whole = other_relations_visible(app, view, body, col, username)
            sent = {**body, col: [out_id] if many else out_id}
            missing = {**body, col: [MISSING_ID] if many else MISSING_ID}
            before = snapshot(app, view.model, None)
            answer, answer_missing = client.post(url + english, json=sent), client.post(url + english, json=missing)
            after = snapshot(app, view.model, None)
        else:
            current = body_from(app, view, pk, [col])[col] if many else []
            whole = True
            sent = {col: current + [out_id] if many else out_id}
            missing = {col: current + [MISSING_ID] if many else MISSING_ID}
            before = snapshot(app, view.model, pk)
            answer = client.put(f"{url}{pk}{english}", json=sent)
            answer_missing = client.put(f"{url}{pk}{english}", json=missing)
            after = snapshot(app, view.model, pk)
        walked += 1
        case = (username, view.resource_name, col, verb)
        if answer.status_code not in (400, 404):
            problems.append((case, "status", answer.status_code, answer.get_data(as_text=True)[:300]))
            continue
        message = (answer.json or {}).get("message")
        if whole:
            if message != {col: [str(NO_SUCH_RECORD)]}:
                problems.append((case, "message", message))
            if answer.status_code != answer_missing.status_code or answer.json != answer_missing.json:
                problems.append((case, "unlike a missing id", answer.json, answer_missing.json))
        elif not (isinstance(message, dict) and all(v == [str(NO_SUCH_RECORD)] for v in message.values())):
            # the body's other relations are out of the writer's reach too (a liaison sees no area)
            problems.append((case, "message", message))
        if after != before:
            problems.append((case, "something was written", before, after))
    assert not problems, "\n".join(map(repr, problems))
    print(f"{username}: {walked} (api, relation, verb) cases")
    # The bar the issue sets: the member check-in, the member's employer, the liaison's claim.
    names = {(view.resource_name, col, verb) for view, col, verb, _t, _m in cases}
    expected = ({("member_checkin", "member", "post"), ("party_member", "employer", "put")}
                if username == "community1" else {("project_claim", "project", "post"),
                                                  ("project_claim", "member", "put")})
    assert expected <= names, names


def test_the_generated_walk_covers_every_kind_of_target(app):
    """Many-to-one and many-to-many, and every scoped target model the APIs write to."""
    cases = relation_cases(app, "community1")
    targets = {target.__tablename__ for _v, _c, _verb, target, _m in cases}
    assert {"area", "unit", "party_member", "unit_checkin", "project", "need", "meeting"} <= targets
    assert any(many for *_rest, many in cases)
    assert set(targets) <= set(OUTSIDE)


# --- the session hook itself: CLI, tasks, imports (every path that is not a form or the API) ---


def hook_cases(app):
    """(model, relation, foreign-key column) of every many-to-one relation to a scoped target of
    every model a registered API writes."""
    seen = set()
    for view, col, _verb, target, many in relation_cases(app, "community1"):
        if many or (view.model, col) in seen:
            continue
        seen.add((view.model, col))
        rel = sa_inspect(view.model).relationships[col]
        fk = sa_inspect(view.model).get_property_by_column(next(iter(rel.local_columns))).key
        yield view.model, col, fk, target


def test_the_session_hook_refuses_by_id_and_by_object_on_create_and_update(app, world):
    walked = 0
    for model, col, fk, target in hook_cases(app):
        out_id = make_outside(app, target, world)
        pk = in_scope_record(app, model, "community1")
        for how in ("update-by-id", "update-by-object", "create-by-id", "create-by-object"):
            before = snapshot(app, model, pk)
            with app.app_context(), acting_as(user(app, "community1"), via="cli"):
                item, outsider = db.session.get(model, pk), db.session.get(target, out_id)
                with db.session.no_autoflush:  # the write reaches the database at commit only
                    if how.startswith("create"):
                        columns = [c.key for c in sa_inspect(model).column_attrs
                                   if c.key not in ("id", "created_at", "updated_at")]
                        item = model(**{c: getattr(item, c) for c in columns})
                        db.session.add(item)
                    if how.endswith("by-id"):
                        setattr(item, fk, out_id)
                    else:
                        setattr(item, col, outsider)
                with pytest.raises(ScopeViolation) as refused:
                    db.session.commit()
                db.session.rollback()
                db.session.remove()
            assert (refused.value.field, str(refused.value.message)) == (col, str(NO_SUCH_RECORD)), \
                (model.__tablename__, col, how)
            assert snapshot(app, model, pk) == before, (model.__tablename__, col, how)
            walked += 1
    assert walked >= 4 * 10
    print(f"session hook: {walked} (model, relation, how) cases")


def test_many_to_many_links_are_checked_in_the_session_too(app, world):
    from models import Meeting, Unit

    out_id = make_outside(app, Unit, world)
    with app.app_context(), acting_as(user(app, "community1"), via="task"):
        meeting = db.session.get(Meeting, world["meeting1"])
        meeting.units.append(db.session.get(Unit, out_id))
        with pytest.raises(ScopeViolation) as refused:
            db.session.commit()
        db.session.rollback()
        assert refused.value.field == "units"
        assert [u.id for u in db.session.get(Meeting, world["meeting1"]).units] == [world["unit1"]]
        db.session.remove()


# --- what stays allowed --------------------------------------------------------------------------


def test_in_scope_and_shared_targets_are_accepted(app, world, api):
    from models import PostCategory, Unit, UnitCheckin

    client = api("community1")
    created = client.post("/api/v1/member_checkin/", json={
        "member": world["m1"], "area": world["g12"], "status": "registered",
        "registered_on": date.today().isoformat()})
    assert created.status_code == 201, created.json
    with app.app_context(), acting_as(None, via="test"):
        category = db.session.execute(select(PostCategory.id)).scalars().first()
        # A unit located in the other community but checked in to community1 is community1's to use.
        guest = Unit(name="外区报到单位", unit_type="soe", credit_code=fake.credit_code(),
                     area=db.session.get(Unit, world["unit2"]).area, member_count=1)
        db.session.add(UnitCheckin(unit=guest, area_id=world["c1"], status="registered",
                                   registered_on=date.today()))
        db.session.commit()
        guest_id = guest.id
    moved = client.put(f"/api/v1/member_checkin/{created.json['id']}", json={"post_category": category})
    assert moved.status_code == 200, moved.json
    employed = client.put(f"/api/v1/party_member/{world['m1']}", json={"employer": guest_id})
    assert employed.status_code == 200 and employed.json["result"]["employer"] == guest_id, employed.json


def test_a_liaison_claims_an_approved_project_for_their_own_unit(app, world, api):
    """Liaisons claim the approved projects of the communities their unit checked in to (unit1:
    community1), for their own unit only; another community's project is as if it did not exist."""
    from models import Project, ProjectClaim

    with app.app_context():
        own = db.session.execute(select(Project.id).where(Project.community_id == world["c1"])).scalar()
        other = db.session.execute(select(Project.id).where(Project.community_id == world["c2"])).scalar()
        claims = db.session.query(ProjectClaim).count()
    client = api("liaison1")
    claim = {"project": own, "unit": world["unit1"], "claimed_on": date.today().isoformat()}
    assert client.post("/api/v1/project_claim/", json=claim).status_code == 201
    elsewhere = client.post("/api/v1/project_claim/?_l_=en", json={**claim, "project": other})
    assert elsewhere.status_code == 400 and elsewhere.json["message"] == {"project": [str(NO_SUCH_RECORD)]}
    with app.app_context():
        assert db.session.query(ProjectClaim).count() == claims + 1
    foreign = client.post("/api/v1/project_claim/?_l_=en", json={**claim, "unit": world["unit2"]})
    assert foreign.status_code == 400 and foreign.json["message"] == {"unit": [str(NO_SUCH_RECORD)]}
    stranger = client.post("/api/v1/project_claim/?_l_=en", json={**claim, "member": world["m2"]})
    assert stranger.status_code == 400 and stranger.json["message"] == {"member": [str(NO_SUCH_RECORD)]}


def test_a_missing_id_is_a_400_for_every_role_in_the_users_language(app, world, api):
    with app.test_request_context("/?_l_=zh"):
        chinese = str(NO_SUCH_RECORD)  # the catalogue's words (tests/test_translations.py: complete)
    from models import PartyMember
    from tests.factories import unchanged

    for username in ("orgdept", "community1"):
        client = api(username)
        with unchanged(app):
            answer = client.post("/api/v1/member_checkin/", json={
                "member": MISSING_ID, "area": world["g11"], "status": "registered",
                "registered_on": date.today().isoformat()})
            assert answer.status_code == 400 and answer.json["message"] == {"member": [chinese]}, \
                (username, answer.json)
    community1 = api("community1")
    before = snapshot(app, PartyMember, world["m1"])
    english = community1.put(f"/api/v1/party_member/{world['m1']}?_l_=en", json={"employer": MISSING_ID})
    assert english.status_code == 400
    assert english.json["message"] == {"employer": ["There is no such record in your scope"]}, english.json
    assert snapshot(app, PartyMember, world["m1"]) == before  # the member keeps its employer


def test_a_nested_object_is_not_created_through_a_relation(app, world, api):
    """marshmallow would create a member from {"member": {...}} and skip every record rule: the
    API takes related records by id only, anything else is unknown."""
    from models import MemberCheckin, PartyMember

    before = (_count(app, PartyMember), _count(app, MemberCheckin))
    nested = api("community1").post("/api/v1/member_checkin/?_l_=en", json={
        "member": {"name": "嵌套", "gender": "male", "id_card": "x", "id_card_digest": "x", "area_id": world["g11"]},
        "area": world["g11"], "status": "registered", "registered_on": date.today().isoformat()})
    assert nested.status_code == 400 and nested.json["message"] == {"member": [str(NO_SUCH_RECORD)]}, nested.json
    assert (_count(app, PartyMember), _count(app, MemberCheckin)) == before


def test_the_check_costs_one_query_per_target_model_not_per_row(app, world):
    """40 check-ins in one flush ask the member table as often as one does."""
    from models import Area, MemberCheckin, PartyMember

    def member_queries(rows):
        statements = []
        with app.app_context(), acting_as(user(app, "community1"), via="cli"):
            engine = db.engine
            listener = lambda *args: statements.append(args[2])  # noqa: E731
            area = db.session.get(Area, world["g11"])
            people = [member(area, name=f"批量{n}") for n in range(rows)]
            db.session.flush()
            event.listen(engine, "before_cursor_execute", listener)
            try:
                for person in people:
                    db.session.add(MemberCheckin(member_id=person.id, area=area, status="registered",
                                                 registered_on=date.today()))
                db.session.flush()
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            db.session.rollback()
            db.session.remove()
        return [s for s in statements if s.lstrip().upper().startswith("SELECT")
                and PartyMember.__tablename__ in s]

    assert len(member_queries(40)) == len(member_queries(1)) == 1  # the check's one IN (...) query


# --- the screens ---------------------------------------------------------------------------------


def _count(app, model):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar()


def field_errors(html, field):
    """The error messages FAB shows in the form row of ``field``."""
    row = html.split(f'<label for="{field}"', 1)[1].split("<label for=", 1)[0]
    return [" ".join(m.split()) for m in re.findall(r'class="alert alert-danger">(.*?)</div>', row, re.S)]


def forged_form_is_refused(app, screen, url, form, field, forged, model):
    """POST ``form`` with ``field`` forged to an out-of-scope id: the form comes back with an error
    on that field, the same as for an id that does not exist, and nothing is saved."""
    before = _count(app, model)
    page = screen.submit(url, {**form, field: str(forged)})
    missing = screen.submit(url, {**form, field: str(MISSING_ID)})
    assert page.status_code == 200, page.status_code  # the form again, not a 500 or a redirect
    errors = field_errors(page.get_data(as_text=True), field)
    assert errors and errors == field_errors(missing.get_data(as_text=True), field), errors
    assert _count(app, model) == before
    return errors


def test_a_forged_add_form_is_a_form_error(app, world, browser):
    from models import MemberCheckin, PartyMember, Unit

    screen = browser("community1")
    checkin = {"member": str(world["m1"]), "area": str(world["g11"]), "status": "registered",
               "registered_on": date.today().isoformat()}
    forged_form_is_refused(app, screen, "/membercheckinview/add", checkin, "member",
                           make_outside(app, PartyMember, world), MemberCheckin)
    person = {"name": "伪造表单", "gender": "male", "id_card": fake.id_card(), "phone": fake.mobile(),
              "employer": str(world["unit1"]), "area": str(world["g11"])}
    forged_form_is_refused(app, screen, "/partymemberview/add", person, "employer",
                           make_outside(app, Unit, world), PartyMember)
    # The same forms with in-scope choices save: the refusal was the forged relation's.
    members, checkins = _count(app, PartyMember), _count(app, MemberCheckin)
    assert screen.submit("/partymemberview/add", person).status_code == 302
    assert screen.submit("/membercheckinview/add", checkin).status_code == 302
    assert (_count(app, PartyMember), _count(app, MemberCheckin)) == (members + 1, checkins + 1)


def test_a_forged_edit_form_is_a_form_error(app, world, browser):
    from models import PartyMember, Unit

    screen = browser("community1")
    outside = make_outside(app, Unit, world)
    before = snapshot(app, PartyMember, world["m1"])
    row = before[2][0]
    # Every personal field filled: views/personal.py drops blank ones before validation.
    form = {"name": "张丽", "gender": "female", "id_card": row["id_card"], "phone": row["phone"],
            "address": row["address"] or "幸福小区1号楼", "employer": str(world["unit1"]), "area": str(world["g11"])}
    forged_form_is_refused(app, screen, f"/partymemberview/edit/{world['m1']}", form, "employer", outside,
                           PartyMember)
    assert snapshot(app, PartyMember, world["m1"]) == before


def test_a_liaison_offers_resources_only_where_their_unit_checked_in(app, world, api):
    """A liaison's resource goes to a community their unit checked in to (unit1: community1)."""
    from models import Resource

    with app.app_context():
        before = db.session.query(Resource).count()
    client = api("liaison1")
    offer = {"area": world["c1"], "unit": world["unit1"], "title": "报告厅", "category": "venue"}
    created = client.post("/api/v1/resource/", json=offer)
    assert created.status_code == 201, created.json
    elsewhere = client.post("/api/v1/resource/?_l_=en", json={**offer, "area": world["c2"]})
    assert elsewhere.status_code == 400 and elsewhere.json["message"] == {"area": [str(NO_SUCH_RECORD)]}
    with app.app_context():
        assert db.session.query(Resource).count() == before + 1
