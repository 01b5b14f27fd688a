"""One person once, without an existence oracle: the duplicate check runs only on an otherwise valid
record, answers the same words whether the registered person is in the user's area or not, writes
an audit entry for every hit, and holds under concurrent writes (a unique-key race answers like
the check, never a 500) on every path: API POST/PUT, screen add/edit."""
import json
import re

import pytest
from sqlalchemy import func, select

from app.core.duplicates import DUPLICATE_PERSON
from app.core.record_rules import DUPLICATE_RULES
from app.demo.fakedata import FakeData
from app.extensions import db
from tests.factories import at_once

fake = FakeData(seed=23)
URL = "/api/v1/party_member/"
THREADS = 8


def new_id():
    return fake.id_card(region="650102")


def payload(world, **overrides):
    data = {"name": "孙悦", "gender": "female", "id_card": new_id(), "phone": "13812345678",
            "area": world["g11"], "employer": world["unit1"], "skills": "法律咨询"}
    data.update(overrides)
    return data


def form(world, **overrides):
    data = {"name": "孙悦", "gender": "female", "id_card": new_id(), "phone": "13812345678",
            "area": str(world["g11"]), "employer": str(world["unit1"])}
    data.update(overrides)
    return data


def duplicate_message(app, locale="zh"):
    """The duplicate message as the app says it in ``locale`` (Chinese by default)."""
    with app.test_request_context(f"/?_l_={locale}"):
        return str(DUPLICATE_PERSON)


def stored(app, pk):
    """(id_card, area_id, name) of a member as stored."""
    from models import PartyMember

    with app.app_context():
        member = db.session.get(PartyMember, pk)
        return member.id_card, member.area_id, member.name


def member_count(app):
    from models import PartyMember

    with app.app_context():
        return db.session.execute(select(func.count(PartyMember.id))).scalar_one()


def duplicate_entries(app):
    from models import AuditLog

    with app.app_context():
        rows = db.session.execute(select(AuditLog).where(AuditLog.action == "duplicate")
                                  .order_by(AuditLog.id)).scalars().all()
        return [dict(actor=r.actor, roles=r.roles, via=r.via, record_type=r.record_type, record_id=r.record_id,
                     area_id=r.area_id, summary=r.summary, details=json.loads(r.changes)) for r in rows]


def chain_ok(app):
    from app.core.audit_chain import verify_chain

    with app.app_context():
        checked, bad_id, reason = verify_chain(db.session.connection())
        db.session.rollback()
        return checked > 0 and bad_id is None, reason


def area_words(app, world):
    """Names and codes of every area and unit of the test district: none may be in an answer."""
    from models import Area, Unit

    with app.app_context():
        areas = db.session.execute(select(Area.name, Area.code)).all()
        units = db.session.execute(select(Unit.name)).scalars().all()
    return [w for row in areas for w in row] + list(units)


@pytest.fixture
def blind_check(monkeypatch):
    """The duplicate rule sees nothing, as when two writers pass it before either has written:
    the database's unique key is then the only thing that stops the second."""
    monkeypatch.setitem(DUPLICATE_RULES, "party_member", [])


# --- 1. the whole record first --------------------------------------------------------------


def test_bad_phone_with_a_registered_id_answers_the_phone_only(world, api, app):
    other_id, _, _ = stored(app, world["m2"])  # registered in community2, outside community1's area
    before = member_count(app)
    response = api("community1").post(URL, json=payload(world, id_card=other_id, phone="12345"))
    assert response.status_code == 400
    assert list(response.json["message"]) == ["phone"]
    assert duplicate_message(app) not in json.dumps(response.json, ensure_ascii=False)
    assert member_count(app) == before
    assert duplicate_entries(app) == []


def test_bad_phone_with_a_registered_id_on_the_screen_shows_the_phone_error_only(world, browser, app):
    other_id, _, _ = stored(app, world["m2"])
    before = member_count(app)
    response = browser("community1").submit("/partymemberview/add", form(world, id_card=other_id, phone="12345"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # the form again
    assert "手机" in page and "13" in page  # the mobile rule's message ("…13 to 19")
    assert duplicate_message(app) not in page
    assert member_count(app) == before
    assert duplicate_entries(app) == []


def test_a_form_error_of_the_screen_itself_also_hides_the_duplicate(world, browser, app):
    """A required field left empty (WTForms, not the record rules) keeps the check silent too."""
    other_id, _, _ = stored(app, world["m2"])
    response = browser("community1").submit("/partymemberview/add", form(world, id_card=other_id, name=""))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert duplicate_message(app) not in page
    assert duplicate_entries(app) == []


# --- 2 and 3. one answer in and out of scope, every hit audited -----------------------------


def test_api_duplicate_answer_is_the_same_in_and_out_of_scope_and_audited(world, api, app):
    own_id, own_area, _ = stored(app, world["m1"])        # community1's own member
    other_id, other_area, other_name = stored(app, world["m2"])  # a member of community2
    client = api("community1")
    before = member_count(app)
    inside = client.post(URL, json=payload(world, id_card=own_id))
    outside = client.post(URL, json=payload(world, id_card=other_id.lower()))
    assert inside.status_code == outside.status_code == 400
    assert inside.json == outside.json == {"message": {"id_card": [duplicate_message(app)]}}
    answer = json.dumps(outside.json, ensure_ascii=False)
    assert not [word for word in area_words(app, world) + [other_name, str(world["m2"])] if word in answer]
    assert member_count(app) == before
    english = client.post(URL + "?_l_=en", json=payload(world, id_card=other_id))
    assert english.json["message"] == {"id_card": ["This person is already registered; ask the "
                                                   "organisation department"]}

    entries = duplicate_entries(app)
    assert [(e["actor"], e["via"], e["record_type"], e["record_id"], e["area_id"]) for e in entries] == [
        ("community1", "api", "party_member", str(world["m1"]), own_area),
        ("community1", "api", "party_member", str(world["m2"]), other_area),
        ("community1", "api", "party_member", str(world["m2"]), other_area)]
    assert entries[1]["details"] == {"existing_id": world["m2"], "attempt": "create",
                                     "id_card": other_id[:6] + "********" + other_id[-4:]}
    logged = json.dumps(entries, ensure_ascii=False)
    assert own_id not in logged and other_id not in logged  # never the clear number
    assert chain_ok(app)[0]


def test_screen_duplicate_answer_is_the_same_in_and_out_of_scope_and_audited(world, browser, app):
    own_id, _, _ = stored(app, world["m1"])
    other_id, _, _ = stored(app, world["m2"])
    user = browser("community1")
    before = member_count(app)
    pages = []
    for id_card in (own_id, other_id):
        response = user.submit("/partymemberview/add", form(world, name="周全", id_card=id_card))
        assert response.status_code == 200  # the form again, with what was typed
        pages.append(response.get_data(as_text=True))
    message = duplicate_message(app)
    for page in pages:
        assert message in page and 'value="周全"' in page
        assert "和平" not in page  # community2's street, community and grid are all 和平…
    assert member_count(app) == before
    entries = duplicate_entries(app)
    assert [(e["actor"], e["via"], e["record_id"]) for e in entries] == [
        ("community1", "web", str(world["m1"])), ("community1", "web", str(world["m2"]))]
    assert all(e["details"]["attempt"] == "create" for e in entries)


def test_every_writer_gets_the_same_words(world, api, app):
    """community2 and street1 (whose area holds m1 but not m2) are told exactly what community1 is."""
    m1_id, _, _ = stored(app, world["m1"])
    m2_id, _, _ = stored(app, world["m2"])
    answers = [api(user).post(URL, json=payload(world, id_card=id_card, area=area, employer=None))
               for user, area in (("community2", world["g21"]), ("street1", world["g12"]))
               for id_card in (m1_id, m2_id)]
    assert [a.status_code for a in answers] == [400] * 4
    assert all(a.json == {"message": {"id_card": [duplicate_message(app)]}} for a in answers)
    assert [(e["actor"], e["record_id"]) for e in duplicate_entries(app)] == [
        ("community2", str(world["m1"])), ("community2", str(world["m2"])),
        ("street1", str(world["m1"])), ("street1", str(world["m2"]))]


# --- 5. an edited or moved member whose new number collides -----------------------------------


def test_api_edit_or_move_onto_a_registered_number_is_refused_alike_and_audited(world, api, app):
    client = api("community1")
    created = client.post(URL, json=payload(world, name="吴桐"))
    assert created.status_code == 201, created.json
    pk = created.json["id"]
    mine = stored(app, pk)
    own_id, _, _ = stored(app, world["m1"])
    other_id, _, _ = stored(app, world["m2"])
    answers = [client.put(f"{URL}{pk}", json={"id_card": own_id}),
               client.put(f"{URL}{pk}", json={"id_card": other_id, "area": world["g12"], "name": "吴桐桐"})]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json == answers[1].json == {"message": {"id_card": [duplicate_message(app)]}}
    assert stored(app, pk) == mine  # neither the number, the area nor the name changed
    entries = duplicate_entries(app)
    assert [(e["record_id"], e["details"]["attempt"]) for e in entries] == [
        (str(world["m1"]), f"update #{pk}"), (str(world["m2"]), f"update #{pk}")]
    # Bad phone and a taken number on an edit: only the phone is told, nothing logged.
    bad = client.put(f"{URL}{pk}", json={"id_card": other_id, "phone": "12345"})
    assert bad.status_code == 400 and list(bad.json["message"]) == ["phone"]
    assert len(duplicate_entries(app)) == 2


def test_screen_edit_onto_a_registered_number_is_refused_alike_and_audited(world, browser, app):
    other_id, _, _ = stored(app, world["m2"])
    mine = stored(app, world["m1"])
    user = browser("community1")
    url = f"/partymemberview/edit/{world['m1']}"
    # Every personal field typed (one left blank is dropped from the form, views/personal.py).
    response = user.submit(url, form(world, name="张丽", id_card=other_id, area=str(world["g12"]),
                                     address="天山区幸福路1号"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert duplicate_message(app) in page and "和平" not in page
    assert stored(app, world["m1"]) == mine
    assert [(e["record_id"], e["via"], e["details"]["attempt"]) for e in duplicate_entries(app)] == [
        (str(world["m2"]), "web", f"update #{world['m1']}")]


# --- 4. races: the unique key answers like the check, audited, never a 500 --------------------


def test_api_post_race_past_the_check_answers_the_duplicate(world, api, app, blind_check):
    other_id, other_area, _ = stored(app, world["m2"])
    before = member_count(app)
    response = api("community1").post(URL, json=payload(world, id_card=other_id))
    assert response.status_code == 400
    assert response.json == {"message": {"id_card": [duplicate_message(app)]}}
    assert member_count(app) == before
    [entry] = duplicate_entries(app)
    assert (entry["record_id"], entry["area_id"], entry["details"]["existing_id"]) == (
        str(world["m2"]), other_area, world["m2"])
    assert other_id not in json.dumps(entry, ensure_ascii=False)
    assert chain_ok(app)[0]


def test_api_put_race_past_the_check_answers_the_duplicate(world, api, app, blind_check):
    other_id, _, _ = stored(app, world["m2"])
    mine = stored(app, world["m1"])
    response = api("community1").put(f"{URL}{world['m1']}", json={"id_card": other_id, "skills": "理发"})
    assert response.status_code == 400
    assert response.json == {"message": {"id_card": [duplicate_message(app)]}}
    assert "UNIQUE" not in response.get_data(as_text=True) and "Key (" not in response.get_data(as_text=True)
    assert stored(app, world["m1"]) == mine
    [entry] = duplicate_entries(app)
    assert (entry["record_id"], entry["details"]["attempt"]) == (str(world["m2"]), f"update #{world['m1']}")


def test_screen_add_race_past_the_check_flashes_the_duplicate(world, browser, app, blind_check):
    other_id, _, _ = stored(app, world["m2"])
    before = member_count(app)
    user = browser("community1")
    response = user.submit("/partymemberview/add", form(world, id_card=other_id))
    assert response.status_code == 302
    page = user.get(response.headers["Location"]).get_data(as_text=True)
    assert duplicate_message(app) in page
    assert other_id not in page and "UNIQUE" not in page and "id_card_digest" not in page
    assert member_count(app) == before
    assert [e["via"] for e in duplicate_entries(app)] == ["web"]


@pytest.mark.parametrize("check", ["checked", "blind"])
def test_concurrent_posts_of_one_new_member_give_one_201_and_the_same_400s(world, api, app, check,
                                                                          monkeypatch):
    """8 concurrent POSTs of the same new person: exactly one is registered; the seven others are
    told the duplicate in the same words (each audited); no 500. "blind": the rule is switched off,
    so all eight reach the database and its unique key decides."""
    if check == "blind":
        monkeypatch.setitem(DUPLICATE_RULES, "party_member", [])
    token = api("community1").headers
    id_card = new_id()
    before = member_count(app)
    answers = at_once(app, "POST", URL, token, [payload(world, name="郑重", id_card=id_card)] * THREADS)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [400] * (THREADS - 1), [a.get_data(as_text=True)[:300] for a in answers]
    created = [a for a in answers if a.status_code == 201][0]
    refused = [a.json for a in answers if a.status_code == 400]
    assert refused == [{"message": {"id_card": [duplicate_message(app)]}}] * (THREADS - 1)
    assert member_count(app) == before + 1
    from models import PartyMember

    with app.app_context():
        [row] = db.session.execute(select(PartyMember.id, PartyMember.name)
                                   .where(PartyMember.id_card == id_card)).all()
    assert (row.id, row.name) == (created.json["id"], "郑重")
    entries = duplicate_entries(app)
    assert len(entries) == THREADS - 1
    assert {(e["actor"], e["record_type"], e["record_id"], e["details"]["existing_id"]) for e in entries} == {
        ("community1", "party_member", str(row.id), row.id)}
    assert id_card not in json.dumps(entries, ensure_ascii=False)
    ok, reason = chain_ok(app)
    assert ok, reason


def test_generic_unique_key_race_is_a_400_with_the_field(world, api, app):
    """Another business unique key (a unit's name) taken by a record the rules do not check: a
    clear 400 naming the field, audited, nothing written, not a 500."""
    from models import Unit

    with app.app_context():
        units = db.session.execute(select(func.count(Unit.id))).scalar_one()
    response = api("orgdept").post("/api/v1/unit/", json={
        "name": "和平供电公司", "unit_type": "soe", "area": world["c2"], "member_count": 3})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert list(response.json["message"]) == ["name"]
    assert not re.search(r"UNIQUE|duplicate key|Key \(", response.get_data(as_text=True))
    with app.app_context():
        assert db.session.execute(select(func.count(Unit.id))).scalar_one() == units
    [entry] = duplicate_entries(app)
    assert (entry["actor"], entry["record_type"], entry["record_id"]) == ("orgdept", "unit", str(world["unit2"]))
