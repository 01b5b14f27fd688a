"""Bad input is never a 500 (issue 13): each input that once answered 500 (or a 400 in the
database's words) now answers a 4xx naming the field (or, for a URL argument, a plain message)
in the user's language, and nothing is written: no row, no audit entry.

The guard is app/core/request_args.py (URL, query and body arguments, before FAB reads them), the
answers are app/core/errors.py's; tests/test_api_fuzz.py looks for more such input."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.errors import ERROR_PAGES
from app.core.request_args import (
    BAD_PAGE,
    BAD_PAGE_SIZE,
    BIGGEST_PAGE,
    NO_FILTER,
    NO_OPERATOR,
    NO_ORDER,
    NOT_AN_OBJECT,
    NOT_JSON_OBJECT,
    NOT_RISON,
    UNSTORABLE,
)
from app.core.scope import NO_SUCH_RECORD
from app.demo.fakedata import FakeData
from app.extensions import db
from tests.factories import at_once, units_in
from tests.factories import unchanged as nothing_written

fake = FakeData(seed=1313)
HUGE_IDS = (2 ** 63, 10 ** 20, 2 ** 31)  # past SQLite's and PostgreSQL's bigint; past PostgreSQL's integer
COUNTED = ("area", "party_member", "meeting", "evaluation", "member_checkin", "service_record", "audit_log")


APP = {}


@pytest.fixture(autouse=True)
def _the_app(app):
    APP["app"] = app


def zh(message, **values):
    """``message`` (a lazy string, or a msgid) as the app says it in Chinese, its default language."""
    from flask_babel import gettext

    with APP["app"].test_request_context("/"):
        text = str(message) if not isinstance(message, str) else gettext(message)
    return text % values if values else text


def counts(app):
    """Rows of the tables a bad request could write to, the audit log included."""
    from flask_appbuilder import Model

    tables = {t.name: t for t in Model.metadata.sorted_tables}
    with app.app_context():
        return {name: db.session.execute(select(func.count()).select_from(tables[name])).scalar_one()
                for name in COUNTED}


def read(app, query):
    """One value from the database, in a context of its own (requests must not share it)."""
    with app.app_context():
        return db.session.execute(query).scalar_one()


@pytest.fixture
def unchanged(app):
    """Call with no argument to take the counts, then ``check()`` at the end: nothing written."""
    state = {}

    def take():
        state["before"] = counts(app)

    def check():
        assert counts(app) == state["before"]

    take.check = check
    return take


def message_of(response):
    return response.get_json()["message"]


def page_text(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# ---- the rison q of the REST API ------------------------------------------------------------------

@pytest.mark.parametrize("resource", ["evaluation", "meeting", "member_checkin", "resolution", "party_member"])
def test_a_bare_number_as_q_is_a_400_on_list_info_and_get(app, world, api, unchanged, resource):
    client = api("orgdept")
    some_id = client.get(f"/api/v1/{resource}/?q=(page_size:1)").json["ids"][0]
    unchanged()
    for url in (f"/api/v1/{resource}/?q=0", f"/api/v1/{resource}/?q=1.5", f"/api/v1/{resource}/_info?q=3",
                f"/api/v1/{resource}/{some_id}?q=7", f"/api/v1/{resource}/?q=-2", f"/api/v1/{resource}/?q=!t"):
        response = client.get(url)
        assert response.status_code == 400, (url, response.get_data(as_text=True))
        assert message_of(response) == zh(NOT_AN_OBJECT), url
    unchanged.check()


@pytest.mark.parametrize("q", ["(((", "!", "(a:1,", "(", "!(", "'", "(" * 2000])
def test_q_that_is_not_rison_is_a_400(app, world, api, unchanged, q):
    client = api("community1")
    unchanged()
    for url in ("/api/v1/party_member/", "/api/v1/party_member/_info", f"/api/v1/party_member/{world['m1']}"):
        response = client.get(url, query_string={"q": q})
        assert response.status_code == 400, (url, q, response.get_data(as_text=True))
        assert message_of(response) == zh(NOT_RISON)
    unchanged.check()


@pytest.mark.parametrize("q, expected", [
    ("(page:-1)", (BAD_PAGE, {"name": "page", "max": BIGGEST_PAGE})),
    ("(page:99999999999999999999)", (BAD_PAGE, {"name": "page", "max": BIGGEST_PAGE})),
    ("(page:1.0)", (BAD_PAGE, {"name": "page", "max": BIGGEST_PAGE})),
    ("(order_column:nope,order_direction:asc)", (NO_ORDER, {"column": "nope"})),
    ("(filters:!((col:nope,opr:eq,value:x)))", (NO_FILTER, {"column": "nope"})),
    ("(filters:!((col:name,opr:nope,value:x)))", (NO_OPERATOR, {"operator": "nope", "column": "name"})),
])
def test_q_fab_cannot_use_is_a_400_in_the_users_words(app, world, api, unchanged, q, expected):
    """Pages FAB hands to SQL (a negative OFFSET is an error on PostgreSQL, 1.0 a float LIMIT), an
    order column or filter FAB refuses in English or silently drops."""
    client = api("orgdept")
    unchanged()
    response = client.get(f"/api/v1/party_member/?q={q}")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert message_of(response) == zh(expected[0], **expected[1])
    unchanged.check()


def test_an_info_page_fab_cannot_use_is_a_400(app, world, api):
    response = api("community1").get("/api/v1/party_member/_info?q=(add_columns:(area:(page:-3)))")
    assert response.status_code == 400
    assert message_of(response) == zh(BAD_PAGE, name="add_columns.area.page", max=BIGGEST_PAGE)


def test_a_filter_on_a_related_id_past_the_databases_integers_is_a_400(app, world, api):
    for value in HUGE_IDS:
        response = api("orgdept").get(f"/api/v1/party_member/?q=(filters:!((col:area,opr:rel_o_m,value:{value})))")
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 200:
            assert response.json["count"] == 0


# ---- record ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("resource", ["evaluation", "member_checkin", "service_record"])
@pytest.mark.parametrize("huge", HUGE_IDS)
def test_an_id_no_row_can_have_is_a_404_on_get_put_and_delete(app, world, api, unchanged, resource, huge):
    client = api("community1")
    unchanged()
    for response in (client.get(f"/api/v1/{resource}/{huge}"), client.put(f"/api/v1/{resource}/{huge}", json={}),
                     client.delete(f"/api/v1/{resource}/{huge}"), client.delete(f"/api/v1/{resource}/abc"),
                     client.put(f"/api/v1/{resource}/-{huge}", json={})):
        assert response.status_code == 404, response.get_data(as_text=True)
        assert message_of(response) == zh(ERROR_PAGES[404][1])
    unchanged.check()


def test_a_missing_record_answers_in_the_users_words(app, world, api):
    response = api("community1").get("/api/v1/service_record/999999")
    assert response.status_code == 404
    assert message_of(response) == zh(ERROR_PAGES[404][1])


@pytest.mark.parametrize("url", ["/partymemberview/show/{id}", "/partymemberview/edit/{id}",
                                 "/meetingview/minutes/{id}", "/partymemberview/show/abc"])
def test_a_screen_id_no_row_can_have_is_a_404(app, world, browser, url):
    client = browser("community1")
    for huge in HUGE_IDS:
        response = client.get(url.format(id=huge))
        assert response.status_code == 404, url


# ---- relations in a request body -----------------------------------------------------------------

@pytest.mark.parametrize("parent", [{"id": 1}, {"foo": 1}, {}, {"name": "嵌套", "code": "1", "level": "district"},
                                    "abc", [1], 1.5, True, 2 ** 63, 2 ** 31, {"id": 2 ** 63}])
def test_a_parent_that_is_not_an_id_is_refused_on_post_and_put(app, world, api, unchanged, parent):
    from models import Area

    client = api("admin")
    parent_of_g11 = select(Area.parent_id).where(Area.id == world["g11"])
    before = read(app, parent_of_g11)
    unchanged()
    created = client.post("/api/v1/area/", json={"name": "新网格", "level": "grid", "code": "650102001001009",
                                                  "parent": parent})
    changed = client.put(f"/api/v1/area/{world['g11']}", json={"parent": parent})
    for response in (created, changed):
        assert response.status_code == 400, response.get_data(as_text=True)
        assert message_of(response) == {"parent": [zh(NO_SUCH_RECORD)]}
    unchanged.check()
    assert read(app, parent_of_g11) == before


def test_an_area_under_itself_or_its_own_child_is_refused_not_looped(app, world, api, unchanged):
    """Parent = itself or a descendant: a loop in the tree (the flush hook once ran forever)."""
    client = api("admin")
    unchanged()
    for area, parent in ((world["district"], world["district"]), (world["street1"], world["c1"]),
                         (world["c1"], world["g11"])):
        response = client.put(f"/api/v1/area/{area}", json={"parent": parent})
        assert response.status_code == 400, response.get_data(as_text=True)
        assert set(message_of(response)) <= {"parent", "level"}
    unchanged.check()


def _new_member(world, **fields):
    return {"name": "孙悦", "gender": "female", "id_card": fake.id_card(region="650102"), "phone": "13812345678",
            "area": world["g11"], "employer": world["unit1"], **fields}


def _new_meeting(world, **fields):
    held_at = f"{(world['today'] - timedelta(days=3)).isoformat()}T10:00:00"
    return {"title": "楼道议事会", "area": world["c1"], "convener": "何涛", "held_at": held_at, **fields}


@pytest.mark.parametrize("missing", [999999, 2 ** 31, 2 ** 63])
def test_a_reference_id_that_does_not_exist_is_a_400_naming_the_field(app, world, api, unchanged, missing):
    """post_category 999999 once answered 500, meeting_type 999999 a 400 in SQL."""
    from models import MeetingType

    client = api("community1")
    meeting_type = read(app, select(MeetingType.id).limit(1))
    unchanged()
    answers = {
        "post_category": client.post("/api/v1/party_member/", json=_new_member(world, post_category=missing)),
        "meeting_type": client.post("/api/v1/meeting/", json=_new_meeting(world, meeting_type=missing)),
    }
    changed = client.put(f"/api/v1/meeting/{world['meeting1']}", json={"meeting_type": missing})
    for field, response in [*answers.items(), ("meeting_type", changed)]:
        assert response.status_code == 400, response.get_data(as_text=True)
        assert message_of(response) == {field: [zh(NO_SUCH_RECORD)]}
        assert not re.search(r"SQL|INSERT|UPDATE|SELECT|psycopg|sqlite", response.get_data(as_text=True))
    unchanged.check()
    # the same requests with an existing reference are accepted: the refusal was the id's
    created = client.post("/api/v1/meeting/", json=_new_meeting(world, meeting_type=meeting_type))
    assert created.status_code == 201, created.get_data(as_text=True)


# ---- request bodies --------------------------------------------------------------------------------

def test_a_body_that_is_not_a_json_object_is_a_400(app, world, api, unchanged):
    client = api("community1")
    unchanged()
    for body in ([1, 2], "text", 3, None):
        response = client.client.post("/api/v1/meeting/", headers=client.headers, json=body)
        assert response.status_code == 400, body
        assert message_of(response) == zh(NOT_JSON_OBJECT)
    response = client.client.put(f"/api/v1/meeting/{world['meeting1']}", data="{not json",
                                 headers={**client.headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert message_of(response) == zh(NOT_JSON_OBJECT)
    unchanged.check()


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_the_databases_cannot_store_is_a_400_naming_the_field(app, world, api, browser, unchanged, text):
    client = api("community1")
    screen = browser("community1")
    unchanged()
    response = client.post("/api/v1/meeting/", json=_new_meeting(world, meeting_type=1, title=text))
    assert response.status_code == 400
    assert message_of(response) == {"title": [zh(UNSTORABLE)]}
    if "\x00" in text:  # a URL argument (a filter value) and a screen's form field
        response = client.get("/api/v1/meeting/?q=(filters:!((col:title,opr:sw,value:'a%00b')))")
        assert response.status_code == 400
        response = screen.get("/meetingview/list/?_flt_0_title=a%00b")
        assert response.status_code == 400
        assert zh(UNSTORABLE) in page_text(response)
    unchanged.check()


def test_a_whole_number_past_its_columns_type_is_a_400_naming_the_field(app, world, api, unchanged):
    client = api("admin")
    unchanged()
    response = client.put(f"/api/v1/area/{world['g11']}", json={"household_heads": 2 ** 40})
    assert response.status_code == 400
    assert list(message_of(response)) == ["household_heads"]
    unchanged.check()


def test_marshmallows_messages_are_in_the_users_words(app, world, api, unchanged):
    client = api("community1")
    unchanged()
    response = client.post("/api/v1/meeting/", json={"title": "x" * 300, "held_at": "soon", "nope": 1})
    assert response.status_code == 400
    message = message_of(response)
    assert message["area"] == [zh("This field is required.")]
    assert message["nope"] == [zh("Unknown field")]
    assert message["title"] == [zh("At most %(max)s characters", max="200")]
    assert message["held_at"] == [zh("Not a valid date and time")]
    unchanged.check()


# ---- screens ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, expected", [
    ("psize_PartyMemberView=abc", (BAD_PAGE_SIZE, {"name": "psize_PartyMemberView", "max": 100})),
    ("psize_PartyMemberView=-5", (BAD_PAGE_SIZE, {"name": "psize_PartyMemberView", "max": 100})),
    ("psize_PartyMemberView=99999999999999999999", (BAD_PAGE_SIZE, {"name": "psize_PartyMemberView", "max": 100})),
    ("page_PartyMemberView=abc", (BAD_PAGE, {"name": "page_PartyMemberView", "max": BIGGEST_PAGE})),
    ("page_PartyMemberView=-1", (BAD_PAGE, {"name": "page_PartyMemberView", "max": BIGGEST_PAGE})),
    ("page_PartyMemberView=99999999999999999999", (BAD_PAGE, {"name": "page_PartyMemberView", "max": BIGGEST_PAGE})),
    ("_oc_PartyMemberView=nope&_od_PartyMemberView=asc", (NO_ORDER, {"column": "nope"})),
    ("_oc_PartyMemberView=area.nope&_od_PartyMemberView=desc", (NO_ORDER, {"column": "area.nope"})),
    ("_oc_PartyMemberView=nope.x&_od_PartyMemberView=asc", (NO_ORDER, {"column": "nope.x"})),
])
def test_a_list_screens_bad_paging_or_order_is_a_400_page(app, world, browser, unchanged, arguments, expected):
    client = browser("community1")
    unchanged()
    response = client.get(f"/partymemberview/list/?{arguments}")
    assert response.status_code == 400
    assert zh(expected[0], **expected[1]) in page_text(response)
    unchanged.check()


def test_a_related_tabs_bad_paging_is_a_400_page(app, world, browser):
    response = browser("community1").get(f"/areaview/show/{world['c1']}?page_PartyMemberView=abc")
    assert response.status_code == 400


def test_a_filter_index_past_the_columns_filters_is_a_400_page(app, world, browser, unchanged):
    """FAB took filter n of the column without looking: IndexError."""
    client = browser("orgdept")
    unchanged()
    response = client.get("/membercheckinview/list/?_flt_9_registered_on=2026-01-01")
    assert response.status_code == 400
    assert client.get("/membercheckinview/list/?_flt_0_registered_on=2026-01-01").status_code == 200
    [view] = [v for v in app.appbuilder.baseviews if getattr(v, "route_base", None) == "/membercheckinview"]
    assert zh(NO_FILTER, column=zh(view.label_columns["registered_on"])) in page_text(response)
    unchanged.check()


def test_an_unknown_bulk_action_is_a_404_and_deletes_nothing(app, world, browser, unchanged):
    client = browser("community1")
    token = client.csrf_token("/partymemberview/list/")
    unchanged()
    for url, form in (("/partymemberview/action_post", {"action": "nope", "rowid": str(world["m1"])}),
                      (f"/partymemberview/action/nope/{world['m1']}", {}),
                      ("/partymemberview/action_post", {"action": "muldelete", "rowid": str(2 ** 63)}),
                      ("/partymemberview/action_post", {"action": "muldelete", "rowid": "abc"}),
                      (f"/partymemberview/action/muldelete/{2 ** 31}", {})):
        response = client.client.post(url, data={**form, "csrf_token": token})
        assert response.status_code == 404, (url, form)
    unchanged.check()


# ---- same-key writes at the same moment ---------------------------------------------------------------

WRITERS = 6


def test_concurrent_posts_of_one_new_unit_give_one_201_and_400s_naming_the_key(app, world, api):
    """A unique key no rule checks first (a unit's name): the database decides between writers
    arriving together (a barrier releases them at once; each thread has its own session). One is
    created, every other is told which field is taken: no 500, one row. The member's number has
    its own race test (tests/test_member_duplicates.py)."""
    from models import Unit

    headers = api("orgdept").headers
    body = {"name": "新光物业服务公司", "unit_type": "soe", "area": world["c2"], "member_count": 3}
    answers = at_once(app, "POST", "/api/v1/unit/", headers, [body] * WRITERS)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [400] * (WRITERS - 1), [a.get_data(as_text=True)[:300] for a in answers]
    assert all(list(a.get_json()["message"]) == ["name"] for a in answers if a.status_code == 400)
    assert not any(re.search(r"UNIQUE|duplicate key|Key \(", a.get_data(as_text=True)) for a in answers)
    assert read(app, select(func.count(Unit.id)).where(Unit.name == body["name"])) == 1


def test_concurrent_renames_to_one_name_give_one_200_and_400s_naming_the_key(app, world, api):
    """Writers renaming different units to the same free name at the same moment: the rule's check
    passes for each (the name is free when each looks), the database's unique key decides at the
    commit. One rename lands; every other writer is told the name is taken, in the words of the
    duplicate rule, never FAB's "Database exception occurred: <SQL>" and never a 500."""
    from models import Unit

    headers = api("orgdept").headers
    ids = units_in(app, world["c2"], "待更名单位", WRITERS)
    renamed = "新光物业服务公司"
    answers = at_once(app, "PUT", None, headers, [{"name": renamed}] * WRITERS,
                      urls=[f"/api/v1/unit/{pk}" for pk in ids])
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (WRITERS - 1), [a.get_data(as_text=True)[:300] for a in answers]
    assert all(list(message_of(a)) == ["name"] for a in answers if a.status_code == 400)
    assert not any(re.search(r"Database exception|UNIQUE|duplicate key|Key \(", a.get_data(as_text=True))
                   for a in answers)
    assert read(app, select(func.count(Unit.id)).where(Unit.name == renamed)) == 1


@pytest.mark.parametrize("path", ["api", "screen"])
def test_a_delete_the_database_refuses_is_a_400_in_the_users_words(app, world, api, browser, monkeypatch, path):
    """With the rule that names what still refers to a record switched off (as if a member were
    added between that check and the delete), the database's own foreign key refuses the delete:
    the API answers 400 in the user's words (FAB would say "Database exception occurred: <SQL>"),
    the screen says so too, and the unit is still there with its members."""
    from app.core import record_rules
    from app.core.errors import DATABASE_REFUSED
    from models import Unit

    monkeypatch.setattr(record_rules, "check_delete", lambda item: None)
    client = api("orgdept") if path == "api" else browser("orgdept")
    with nothing_written(app):
        if path == "api":
            response = client.delete(f"/api/v1/unit/{world['unit1']}")
            assert response.status_code == 400, response.get_data(as_text=True)
            assert message_of(response) == zh(DATABASE_REFUSED)
        else:
            response = client.post(f"/unitview/delete/{world['unit1']}",
                                   with_token_from=f"/unitview/show/{world['unit1']}")
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            page = page_text(client.get(response.headers["Location"]))
            assert zh(DATABASE_REFUSED) in page
            assert not re.search(r"Database exception|FOREIGN KEY|foreign key|violates", page)
    assert not re.search(r"Database exception|FOREIGN KEY|foreign key|violates", response.get_data(as_text=True))
    assert read(app, select(func.count(Unit.id)).where(Unit.id == world["unit1"])) == 1


@pytest.mark.parametrize("code", [404, 400])
def test_an_error_page_says_its_title_and_message_in_the_users_language_with_their_menu(app, world, browser,
                                                                                        code):
    """A 404 (no such record, or outside the area) and a 400 (a list argument that does not parse)
    are pages of the app: the title and the message in Chinese, the user's own menu around them."""
    client = browser("community1")
    url = "/partymemberview/show/987654321" if code == 404 else "/partymemberview/list/?psize_PartyMemberView=x"
    response = client.get(url)
    assert response.status_code == code
    page = page_text(response)
    title, message = ERROR_PAGES[code]
    assert f"<h3>{zh(title)}</h3>" in page
    if code == 404:
        assert f"<p>{zh(message)}</p>" in page
    assert "community1" in page  # the signed-in user's menu, not an anonymous page


def test_a_form_sent_with_a_stale_token_gets_the_expired_form_page_with_the_users_menu(app, world, browser):
    """CSRF refusals happen before FAB knows the user: the page still says, in Chinese, that the
    form expired, inside the signed-in user's own menu."""
    client = browser("community1")
    response = client.post("/partymemberview/add", data={"name": "过期", "csrf_token": "stale"})
    assert response.status_code == 400
    page = page_text(response)
    assert f"<h3>{zh('The form has expired')}</h3>" in page
    assert zh("The page was open too long or was sent twice. Reload it and try again.") in page
    assert "community1" in page
