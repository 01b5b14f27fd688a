"""The field policy holds on every path, walked from the app's own registry (every registered
screen and API, every demo role, every personal field), so a view added later is covered without
anyone remembering to list it."""
import re

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from app.core import policy
from app.core.roles import ROLES
from app.extensions import db
from tests.factories import USERS, user
from views.api_base import GongjianApi
from views.base import GongjianBaseView

IDS_PER_MODEL = 3
# Every demo user whose role (the one role table) does not see personal data in full.
MASKED_USERS = [name for name, role in USERS.items() if policy.PERSONAL_DATA_PERMISSION not in ROLES[role]]


# ---- the registry ---------------------------------------------------------------------------------

def registered(app, kind):
    return [view for view in app.appbuilder.baseviews if isinstance(view, kind)]


def masked_users(app):
    with app.app_context():
        return [name for name in USERS if not policy.sees_in_full(user(app, name))]


def some_ids(model):
    pk = sa_inspect(model).primary_key[0]
    ids = db.session.execute(select(pk).order_by(pk)).scalars().all()
    return ids[:IDS_PER_MODEL] + ids[-IDS_PER_MODEL:]


def personal_values(app):
    """Every personal value stored (non-secret ones of 7+ characters, and the digests), after
    giving every empty personal column a value, so a leak of any of them is seen."""
    from flask_appbuilder import Model

    tables = {t.name: t for t in Model.metadata.sorted_tables}
    values = set()
    with app.app_context():
        counter = 0
        for table_name, columns in policy.PERSONAL_FIELDS.items():
            if table_name.startswith("ab_"):
                continue
            table = tables[table_name]
            for column, kind in columns.items():
                for row_id in db.session.execute(select(table.c.id).where(table.c[column].is_(None))).scalars():
                    counter += 1
                    value = f"139{counter:08d}" if kind == policy.PHONE else f"北京市朝阳区望京街道{counter}号楼{counter}单元"
                    db.session.execute(table.update().where(table.c.id == row_id).values({column: value}))
                db.session.commit()
                for value in db.session.execute(select(table.c[column])).scalars():
                    if value and (len(str(value)) >= 7):
                        values.add(str(value))
    assert values, "the world has no personal data to look for"
    return values


def leaks(text, values):
    return sorted(v for v in values if v in text)


# ---- 1. a column that looks personal has a policy entry ---------------------------------------------

def test_every_personal_looking_column_has_a_policy_entry(app):
    from flask_appbuilder import Model

    missing = []
    for table in Model.metadata.sorted_tables:
        for column in table.columns:
            looks = any(word in column.name.lower() for word in policy.LOOKS_PERSONAL)
            known = column.name in policy.PERSONAL_FIELDS.get(table.name, {}) or \
                (table.name, column.name) in policy.NOT_PERSONAL
            if looks and not known:
                missing.append(f"{table.name}.{column.name}")
    assert missing == [], f"personal-looking columns without a field-policy entry: {missing}"


def test_the_policy_names_only_real_columns(app):
    from flask_appbuilder import Model

    tables = {t.name: t for t in Model.metadata.sorted_tables}
    for table_name, columns in policy.PERSONAL_FIELDS.items():
        assert set(columns) <= set(tables[table_name].c.keys()), table_name
        assert set(columns.values()) <= set(policy.KINDS)
    for table_name, column in policy.NOT_PERSONAL:
        assert column in tables[table_name].c, (table_name, column)


# ---- 2. no full value leaves to a masked role, on any path ----------------------------------------

def _api_responses(app, client, api_view):
    base = f"/api/v1/{api_view.resource_name}"
    model = api_view.datamodel.obj
    yield "list", client.get(f"{base}/?q=(page_size:100)")
    yield "_info", client.get(f"{base}/_info")
    with app.app_context():
        ids = some_ids(model)
    for pk in ids:
        yield f"get {pk}", client.get(f"{base}/{pk}")


def _screen_responses(app, client, screen):
    base = screen.route_base
    yield "list", client.get(f"{base}/list/")
    with app.app_context():
        ids = some_ids(screen.datamodel.obj)
    for pk in ids:
        yield f"show {pk}", client.get(f"{base}/show/{pk}")
        yield f"edit {pk}", client.get(f"{base}/edit/{pk}")
    yield "add", client.get(f"{base}/add")


@pytest.mark.parametrize("username", MASKED_USERS)
def test_no_full_personal_value_reaches_a_masked_role(username, world, app, api, browser, tmp_path):
    values = personal_values(app)
    assert username in masked_users(app)
    found, cases, answered = [], 0, 0
    if username != "nobody":
        client = api(username)
        for api_view in registered(app, GongjianApi):
            for what, response in _api_responses(app, client, api_view):
                cases += 1
                text = response.get_data(as_text=True)
                assert response.status_code < 500, (api_view.resource_name, what, text[:300])
                answered += response.status_code == 200
                found += [(api_view.resource_name, what, v) for v in leaks(text, values)]
    screen_client = browser(username)
    for screen in registered(app, GongjianBaseView):
        for what, response in _screen_responses(app, screen_client, screen):
            cases += 1
            assert response.status_code < 500, (screen.route_base, what)
            answered += response.status_code == 200
            found += [(screen.route_base, what, v) for v in leaks(response.get_data(as_text=True), values)]
    cases += _walk_exports(app, username, tmp_path, values, found)
    assert found == []
    assert cases > 100 and (answered > 30 or username == "nobody")  # the walk reached real pages
    print(f"\n{username}: {cases} endpoint cases walked")  # the figure for the closing note (pytest -s)


def _walk_exports(app, username, tmp_path, values, found):
    from app.exports.query import ExportInvalid
    from app.exports.requests import export_to_file
    from app.exports.resources import resources

    cases = 0
    with app.app_context():
        for resource in resources():
            out = tmp_path / f"{username}-{resource}.csv"
            try:
                export_to_file(user(app, username), resource, "csv", [], str(out))
            except ExportInvalid:
                continue  # the role may not read this list
            cases += 1
            found += [(f"export {resource}", "csv", v) for v in leaks(out.read_text("utf-8-sig"), values)]
    return cases


def test_orgdept_reads_full_values_through_the_api_audited_once_per_page(world, app, api):
    values = personal_values(app)
    client = api("orgdept")
    with app.app_context():
        from models import AuditLog, PartyMember

        member = db.session.get(PartyMember, world["m1"])
        full = member.id_card
        before = db.session.query(AuditLog).filter_by(action="reveal").count()
    page = client.get("/api/v1/party_member/?q=(page_size:100)")
    assert full in page.get_data(as_text=True)
    nested = client.get("/api/v1/member_checkin/?q=(page_size:100)")
    assert nested.status_code == 200
    with app.app_context():
        entries = db.session.query(AuditLog).filter_by(action="reveal").order_by(AuditLog.id).all()[before:]
        # one entry for the member page (rows listed in it), none for a list that shows no personal field
        assert [e.record_type for e in entries] == ["party_member"]
        assert '"rows": %d' % len(page.json["result"]) in entries[0].changes
        assert not (set(leaks(entries[0].changes, values)))  # the entry names columns, never values
    got = client.get("/api/v1/service_record/?q=(page_size:1)").json["ids"][0]
    shown = client.get(f"/api/v1/service_record/{got}")
    assert shown.status_code == 200
    with app.app_context():
        last = db.session.query(AuditLog).order_by(AuditLog.id.desc()).first()
        assert last.action == "reveal" and last.record_type == "service_record"
        assert "member.phone" in last.changes


def test_nested_records_are_masked_for_a_masked_role(world, app, api):
    client = api("community1")
    with app.app_context():
        from models import MemberCheckin, PartyMember

        member = db.session.get(PartyMember, world["m1"])
        checkin = db.session.query(MemberCheckin).filter_by(member_id=member.id).first()
        full_id, full_phone = member.id_card, member.phone
    result = client.get(f"/api/v1/member_checkin/{checkin.id}").json["result"]
    assert result["member"]["id_card"] == policy.mask(policy.ID_CARD, full_id)
    assert result["member"]["phone"] == policy.mask(policy.PHONE, full_phone)
    assert "id_card_digest" not in result["member"]


# ---- 3. personal fields are not query keys ----------------------------------------------------------

def _operators(view, column):
    """Every filter operator FAB offers (or would offer) for ``column`` of the view's model."""
    converter = view.datamodel.filter_converter_class(view.datamodel)
    return [flt.arg_name for flt in converter.convert(column) or []] or ["eq"]


def _personal_query_cases(app):
    cases = []
    for api_view in registered(app, GongjianApi):
        for column in policy.personal_fields(api_view.datamodel.obj):
            cases.append(("api", api_view, column))
    for screen in registered(app, GongjianBaseView):
        for column in policy.personal_fields(screen.datamodel.obj):
            cases.append(("screen", screen, column))
    return cases


def test_personal_fields_are_refused_as_query_keys_to_masked_roles(world, app, api, browser):
    cases = _personal_query_cases(app)
    assert {kind for kind, _v, _c in cases} == {"api", "screen"}
    walked = 0
    for username in ("community1", "street1", "orgdept"):
        client, screen_client = api(username), browser(username)
        with app.app_context():
            full = policy.sees_in_full(user(app, username))
        for kind, view, column in cases:
            refused = not full or policy.kind_of(view.datamodel.obj, column) == policy.SECRET
            for status, body in _query_by(kind, view, column, client, screen_client):
                walked += 1
                if refused:
                    assert status == 400, (username, kind, view, column, body[:300])
                    assert (column if kind == "api" else _label(app, view, column)) in body
                else:  # a full viewer is never refused by the policy (FAB may refuse an unsearchable column)
                    assert status in (200, 403) or (kind == "api" and '"message":{' not in body.replace(" ", "")), \
                        (username, kind, view, column, body[:300])
    assert walked > 50


def _label(app, view, column):
    with app.test_request_context():  # the screen's language (zh by default)
        return str(view.label_columns.get(column, column))


def _query_by(kind, view, column, client, screen_client):
    if kind == "api":
        base = f"/api/v1/{view.resource_name}/"
        for opr in _operators(view, column):
            response = client.get(f"{base}?q=(filters:!((col:{column},opr:{opr},value:'138')))")
            yield response.status_code, response.get_data(as_text=True)
        response = client.get(f"{base}?q=(order_column:{column},order_direction:asc)")
        yield response.status_code, response.get_data(as_text=True)
        return
    for index, _opr in enumerate(_operators(view, column)):
        response = screen_client.get(f"{view.route_base}/list/?_flt_{index}_{column}=138")
        yield response.status_code, response.get_data(as_text=True)
    response = screen_client.get(f"{view.route_base}/list/?_oc_{view.__class__.__name__}={column}&_od_"
                                 f"{view.__class__.__name__}=asc")
    yield response.status_code, response.get_data(as_text=True)


def test_the_search_form_offers_no_personal_field_to_a_masked_role(world, browser):
    masked = browser("community1").get("/partymemberview/list/").get_data(as_text=True)
    full = browser("orgdept").get("/partymemberview/list/").get_data(as_text=True)
    assert not re.search(r'name="_flt_\d+_phone"', masked) and "_flt_0_phone" not in masked
    assert "phone" in re.findall(r'data-(?:filter|name)="([^"]+)"', full) or "phone" in full


def test_info_offers_no_personal_filter_to_a_masked_role(world, api):
    masked = api("community1").get("/api/v1/party_member/_info").json["filters"]
    full = api("orgdept").get("/api/v1/party_member/_info").json["filters"]
    assert "phone" in full and "phone" not in masked and "name" in masked


def test_export_filters_and_order_on_a_personal_field_are_refused(world, app, api):
    from models import ExportJob

    client = api("community1")
    with app.app_context():
        before = db.session.query(ExportJob).count()
    by_filter = client.post("/api/v1/export_job/", json={"resource": "party_member", "format": "csv",
                                                        "filters": [{"col": "phone", "opr": "sw", "value": "138"}]})
    by_order = client.post("/api/v1/export_job/", json={"resource": "party_member", "format": "csv",
                                                       "params": {"order": ["id_card", "asc"]}})
    assert by_filter.status_code == 400 and "phone" in str(by_filter.json["message"]["filters"])
    assert by_order.status_code == 400 and "id_card" in str(by_order.json["message"]["params"])
    with app.app_context():
        assert db.session.query(ExportJob).count() == before


# ---- 4. forms and writes ----------------------------------------------------------------------------

def test_edit_form_never_prefills_a_personal_value_and_blank_keeps_it(world, app, browser):
    with app.app_context():
        from models import PartyMember

        member = db.session.get(PartyMember, world["m1"])
        id_card, phone = member.id_card, member.phone
    for username in ("community1", "orgdept"):
        page = browser(username).get(f"/partymemberview/edit/{world['m1']}").get_data(as_text=True)
        if username == "community1":
            assert id_card not in page and phone not in page
            assert policy.mask(policy.ID_CARD, id_card) in page  # shown as a hint
    editor = browser("community1")
    form_url = f"/partymemberview/edit/{world['m1']}"
    form = _form_fields(editor.get(form_url).get_data(as_text=True))
    response = editor.submit(form_url, {**form, "skills": "调解", "id_card": "", "phone": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with app.app_context():
        member = db.session.get(PartyMember, world["m1"])
        assert (member.id_card, member.phone, member.skills) == (id_card, phone, "调解")
    response = editor.submit(form_url, {**form, "id_card": "", "phone": "13911112222"})
    assert response.status_code == 302
    with app.app_context():
        member = db.session.get(PartyMember, world["m1"])
        assert (member.id_card, member.phone) == (id_card, "13911112222")


def _form_fields(html):
    """The values a browser would send back from an edit form (text inputs and selected options)."""
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected',
                           body)
        fields[name] = (chosen.group(1) or chosen.group(2)) if chosen else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        fields[name] = body.strip()
    fields.pop("csrf_token", None)
    return fields


def test_put_with_nothing_answers_masked_and_changes_nothing(world, app, api):
    with app.app_context():
        from models import AuditLog, PartyMember

        member = db.session.get(PartyMember, world["m1"])
        stored = {c.key: getattr(member, c.key) for c in sa_inspect(PartyMember).column_attrs}
        entries = db.session.query(AuditLog).count()
    response = api("community1").put(f"/api/v1/party_member/{world['m1']}", json={})
    assert response.status_code == 200
    result = response.json["result"]
    assert result["id_card"] == policy.mask(policy.ID_CARD, stored["id_card"])
    assert result["phone"] == policy.mask(policy.PHONE, stored["phone"])
    with app.app_context():
        member = db.session.get(PartyMember, world["m1"])
        assert {c.key: getattr(member, c.key) for c in sa_inspect(PartyMember).column_attrs} == stored
        assert db.session.query(AuditLog).filter(AuditLog.action != "login").count() == entries


def test_audit_log_renders_personal_values_masked(world, app, api):
    api("community1").put(f"/api/v1/party_member/{world['m1']}", json={"phone": "13922223333",
                                                                         "address": "北京市朝阳区望京街道9号楼"})
    with app.app_context():
        from models import AuditLog

        entry = db.session.query(AuditLog).filter_by(action="update", record_type="party_member").order_by(
            AuditLog.id.desc()).first()
        assert "13922223333" not in entry.changes and "139****3333" in entry.changes
        assert "望京街道9号楼" not in entry.changes and "北京市朝阳区****" in entry.changes


def test_edit_form_with_an_error_shows_again_without_the_personal_value(world, app, browser):
    """A blank personal field is kept out of validation; a form with another error must still
    render (it once answered 500) and never with the stored value."""
    with app.app_context():
        from models import PartyMember

        id_card = db.session.get(PartyMember, world["m1"]).id_card
    editor = browser("community1")
    form_url = f"/partymemberview/edit/{world['m1']}"
    form = _form_fields(editor.get(form_url).get_data(as_text=True))
    response = editor.submit(form_url, {**form, "id_card": "", "address": "", "phone": "12345"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and id_card not in html
    assert "手机号码格式不正确" in html
    with app.app_context():
        assert db.session.get(PartyMember, world["m1"]).id_card == id_card


def test_a_reveal_covers_the_one_record_not_its_related_tabs(world, app, browser):
    """Revealing a grid's worker phone shows no member of the grid in full (no related tabs)."""
    with app.app_context():
        from models import Area, PartyMember

        grid = db.session.get(Area, world["g11"])
        worker_phone = grid.grid_worker_phone
        member_phone = db.session.get(PartyMember, world["m1"]).phone
    user = browser("orgdept")
    show_url = f"/areaview/show/{world['g11']}"
    html = user.post(f"/areaview/reveal/{world['g11']}", {"reason": "联系网格员"},
                     with_token_from=show_url).get_data(as_text=True)
    assert worker_phone in html and member_phone not in html


def test_a_request_with_no_signed_in_user_gets_personal_data_masked(world, app):
    """Nobody signed in is nobody who may see personal data: an anonymous request gets every
    personal value masked from the policy and from the API schemas (nested records too), and the
    API itself answers it 401 without a value. (Only system work — no request, no user: seeding,
    migrations — reads values in full.)"""
    from models import Area, PartyMember

    client = app.test_client()
    with app.app_context():
        zhang = db.session.get(PartyMember, world["m1"])
        id_card, phone = zhang.id_card, zhang.phone
        grid_phone = db.session.get(Area, world["g11"]).grid_worker_phone
    anonymous = client.get(f"/api/v1/party_member/{world['m1']}")
    assert anonymous.status_code == 401
    assert id_card not in anonymous.get_data(as_text=True) and phone not in anonymous.get_data(as_text=True)
    member_api = next(view for view in registered(app, GongjianApi) if view.resource_name == "party_member")
    area_api = next(view for view in registered(app, GongjianApi) if view.resource_name == "area")
    with app.test_request_context("/api/v1/party_member/"):
        assert policy.sees_in_full() is False
        assert policy.shown(policy.ID_CARD, id_card) == id_card[:6] + "*" * 8 + id_card[-4:]
        assert policy.shown(policy.PHONE, phone) == phone[:3] + "****" + phone[-4:]
        zhang = db.session.get(PartyMember, world["m1"])
        dumped = member_api.show_model_schema.dump(zhang)
        assert dumped["id_card"] == id_card[:6] + "*" * 8 + id_card[-4:]
        assert dumped["phone"] == phone[:3] + "****" + phone[-4:]
        text = repr(member_api.list_model_schema.dump([zhang], many=True))
        assert id_card not in text and phone not in text
        grid = area_api.show_model_schema.dump(db.session.get(Area, world["g11"]))
        assert grid_phone and grid["grid_worker_phone"] == grid_phone[:3] + "****" + grid_phone[-4:]


@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_address_stays_empty_when_masked(empty):
    """No address is shown as none, not as a masked one (which would claim there is an address)."""
    from app.core.masking import mask_address

    assert mask_address(empty) == empty
    assert mask_address("北京市朝阳区望京街道1号楼") == "北京市朝阳区****"

