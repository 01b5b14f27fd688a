"""In-service Party members: validation, duplicates, masking, CRUD through screen and API."""
import re

from app.demo.fakedata import FakeData
from app.extensions import db
from tests.factories import unchanged

fake = FakeData(seed=11)
BAD_ID = "110105199001011235"  # check digit wrong (…1234 would need another last char)


def valid_id():
    return fake.id_card(region="650102")


def member_payload(world, **overrides):
    payload = {"name": "王芳", "gender": "female", "id_card": valid_id(), "phone": "13812345678",
               "area": world["g11"], "employer": world["unit1"], "skills": "法律咨询"}
    payload.update(overrides)
    return payload


def test_api_rejects_bad_id_card_with_field_and_reason(world, api, app):
    client = api("community1")
    with unchanged(app):
        response = client.post("/api/v1/party_member/", json=member_payload(world, id_card=BAD_ID))
        assert response.status_code == 400
        assert "id_card" in response.json["message"]
        assert "校验" in response.json["message"]["id_card"][0]  # Chinese is the default language
        english = client.post("/api/v1/party_member/?_l_=en", json=member_payload(world, id_card=BAD_ID))
        assert english.status_code == 400
        assert "check digit" in english.json["message"]["id_card"][0]


def test_api_rejects_bad_phone_and_keeps_nothing(world, api, app):
    client = api("community1")
    before = client.get("/api/v1/party_member/").json["count"]
    response = client.post("/api/v1/party_member/", json=member_payload(world, phone="12345"))
    assert response.status_code == 400
    assert list(response.json["message"]) == ["phone"]
    assert client.get("/api/v1/party_member/").json["count"] == before


def test_api_message_is_chinese_with_zh_locale(world, api):
    client = api("community1")
    response = client.post("/api/v1/party_member/?_l_=zh", json=member_payload(world, id_card=BAD_ID))
    assert response.status_code == 400
    assert re.search(r"[\u4e00-\u9fff]", response.json["message"]["id_card"][0])


def test_same_person_cannot_be_registered_twice(world, api, app):
    client = api("community1")
    id_card = valid_id()
    first = client.post("/api/v1/party_member/", json=member_payload(world, id_card=id_card))
    assert first.status_code == 201, first.json
    # Same number with a lowercase x or spaces is the same person.
    with unchanged(app):
        again = client.post("/api/v1/party_member/", json=member_payload(world, id_card=" " + id_card.lower()))
        assert again.status_code == 400
        assert list(again.json["message"]) == ["id_card"]


def test_duplicate_detected_across_communities_without_revealing_it(world, api, app):
    payload = member_payload(world)
    first = api("community1").post("/api/v1/party_member/", json=payload)
    assert first.status_code == 201
    id_card = payload["id_card"]
    # Even the creator gets the number back masked: a response never carries it in full.
    assert first.json["result"]["id_card"] == id_card[:6] + "*" * 8 + id_card[-4:]
    community2 = api("community2")
    with unchanged(app):
        other = community2.post("/api/v1/party_member/",
                                json=member_payload(world, id_card=id_card, area=world["g21"], employer=None))
        assert other.status_code == 400
    assert "幸福" not in str(other.json)


def test_api_crud_round_trip(world, api):
    client = api("community1")
    created = client.post("/api/v1/party_member/", json=member_payload(world, name="陈晨"))
    assert created.status_code == 201
    pk = created.json["id"]
    shown = client.get(f"/api/v1/party_member/{pk}")
    assert shown.json["result"]["name"] == "陈晨"
    assert shown.json["result"]["id_card"].count("*") == 8  # masked for a community admin
    updated = client.put(f"/api/v1/party_member/{pk}", json={"skills": "矛盾调解"})
    assert updated.status_code == 200, updated.json
    assert client.get(f"/api/v1/party_member/{pk}").json["result"]["skills"] == "矛盾调解"
    assert client.delete(f"/api/v1/party_member/{pk}").status_code == 200
    assert client.get(f"/api/v1/party_member/{pk}").status_code == 404


def test_update_cannot_take_another_members_id_card(world, api, app):
    client = api("community1")
    a_payload = member_payload(world)
    a = client.post("/api/v1/party_member/", json=a_payload).json
    b = client.post("/api/v1/party_member/", json=member_payload(world)).json
    from models import PartyMember

    with app.app_context():
        b_digest = db.session.get(PartyMember, b["id"]).id_card_digest
    with unchanged(app):
        response = client.put(f"/api/v1/party_member/{b['id']}", json={"id_card": a_payload["id_card"]})
        assert response.status_code == 400
        assert list(response.json["message"]) == ["id_card"]
    with app.app_context():
        assert db.session.get(PartyMember, b["id"]).id_card_digest == b_digest  # b keeps its own number
    # Re-saving a member with its own number is fine.
    same = client.put(f"/api/v1/party_member/{a['id']}", json={"id_card": a_payload["id_card"], "skills": "理发"})
    assert same.status_code == 200, same.json


def test_list_masks_personal_data_unless_permitted(world, api):
    masked = api("community1").get("/api/v1/party_member/").json["result"]
    assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", row["id_card"]) for row in masked)
    assert all(re.fullmatch(r"\d{3}\*{4}\d{4}", row["phone"]) for row in masked)
    full = api("orgdept").get("/api/v1/party_member/").json["result"]
    assert all(re.fullmatch(r"\d{17}[\dX]", row["id_card"]) for row in full)


def test_screen_shows_field_error_in_chinese_and_keeps_input(world, browser):
    user = browser("community1")
    response = user.submit("/partymemberview/add", {
        "name": "赵敏", "gender": "female", "id_card": BAD_ID, "phone": "13812345678",
        "area": str(world["g11"]), "employer": str(world["unit1"])})
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # the form is shown again, not a redirect
    assert "身份证" in page and "校验" in page
    assert 'value="赵敏"' in page  # what the user typed is kept
    assert BAD_ID in page


def test_screen_add_and_list_masked(world, browser, app):
    user = browser("community1")
    id_card = valid_id()
    response = user.submit("/partymemberview/add", {
        "name": "钱多多", "gender": "male", "id_card": id_card, "phone": "13912345678",
        "area": str(world["g12"]), "employer": str(world["unit1"])})
    assert response.status_code == 302
    listing = user.get("/partymemberview/list/").get_data(as_text=True)
    assert "钱多多" in listing
    assert id_card[:6] + "********" + id_card[-4:] in listing
    assert id_card not in listing
    with app.app_context():
        from models import PartyMember

        row = db.session.query(PartyMember).filter_by(name="钱多多").one()
        assert row.community_id == world["c1"]
        assert row.id_card == id_card


def test_show_reveals_to_orgdept_only_with_a_reason_and_is_audited(world, browser, app):
    user = browser("orgdept")
    show_url = f"/partymemberview/show/{world['m1']}"
    page = user.get(show_url).get_data(as_text=True)
    with app.app_context():
        from models import AuditLog, PartyMember

        member = db.session.get(PartyMember, world["m1"])
        id_card, phone = member.id_card, member.phone
        reveals = lambda: db.session.query(AuditLog).filter_by(action="reveal", record_type="party_member").all()  # noqa: E731
        assert id_card not in page and id_card[:6] + "********" in page  # masked until asked
        assert f"/partymemberview/reveal/{world['m1']}" in page
        assert reveals() == []
    refused = user.post(f"/partymemberview/reveal/{world['m1']}", {"reason": ""}, with_token_from=show_url)
    assert refused.status_code == 400 and id_card not in refused.get_data(as_text=True)
    shown = user.post(f"/partymemberview/reveal/{world['m1']}", {"reason": "核对报到信息"}, with_token_from=show_url)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and id_card in html and phone in html
    with app.app_context():
        [entry] = reveals()
        assert entry.actor == "orgdept" and entry.record_id == str(world["m1"])
        assert "核对报到信息" in entry.changes


def test_reveal_refused_to_a_masked_role(world, browser, app):
    user = browser("community1")
    show_url = f"/partymemberview/show/{world['m1']}"
    assert "/reveal/" not in user.get(show_url).get_data(as_text=True)
    response = user.post(f"/partymemberview/reveal/{world['m1']}", {"reason": "想看看"},
                         with_token_from="/partymemberview/add")
    assert response.status_code == 403
    with app.app_context():
        from models import AuditLog, PartyMember

        assert db.session.get(PartyMember, world["m1"]).id_card not in response.get_data(as_text=True)
        assert db.session.query(AuditLog).filter_by(action="reveal").count() == 0


def test_show_masks_for_community_admin(world, browser, app):
    page = browser("community1").get(f"/partymemberview/show/{world['m1']}").get_data(as_text=True)
    with app.app_context():
        from models import PartyMember

        member = db.session.get(PartyMember, world["m1"])
        assert member.id_card not in page
        assert member.id_card[:6] + "********" in page


def test_member_with_checkins_cannot_be_deleted(world, api, browser, app):
    response = api("community1").delete(f"/api/v1/party_member/{world['m1']}")
    assert response.status_code == 400
    assert "id" in response.json["message"]
    page = browser("community1")
    result = page.post(f"/partymemberview/delete/{world['m1']}", with_token_from="/partymemberview/add")
    assert result.status_code == 302
    with app.app_context():
        from models import PartyMember

        assert db.session.get(PartyMember, world["m1"]) is not None
