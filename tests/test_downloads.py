"""Files go only to who may see them, and a filter value that does not parse is refused (issue 12,
items 6 and 7).

* Export files: every route that hands out a job's file (found in the URL map, screen and API)
  answers 404 to every demo user but the requester — auditors included, who still see the job —
  and to the requester once a file holding personal data in full outlives their permission to see
  it. Every download and every refusal is in the audit log.
* Attachments: every ``/download/<filename>`` route of every registered screen, for every file
  column of every model, as every demo user: the file only through the screen of the record that
  holds it and only for a user whose scope holds that record; 404 (or FAB's refusal for a user who
  may not read the screen) otherwise, path tricks included. Every download is audited.
* Filter values: a date, date-and-time, number, whole number, choice code, yes/no or related id
  that does not parse is refused with 400 naming ``filters`` and the column on the export API, the
  导出 button, the CLI, the list API and the list screen — and nothing is written.
"""
import json
import os
import re
import uuid
from urllib.parse import unquote, urlencode

import prison
import pytest
from conftest import PASSWORD
from sqlalchemy import func, select

from app.demo.users import DEMO_USERS
from tests.factories import user

DEMO = list(DEMO_USERS)


# ---- helpers ----------------------------------------------------------------------------------
def audit_entries(app, **where):
    from app.extensions import db
    from models import AuditLog

    with app.app_context():
        query = select(AuditLog).order_by(AuditLog.id)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        rows = db.session.execute(query).scalars().all()
        return [{"action": r.action, "actor": r.actor, "record_type": r.record_type, "record_id": r.record_id,
                 "summary": r.summary, "changes": json.loads(r.changes or "{}"), "area_id": r.area_id}
                for r in rows]


def last_audit_id(app):
    from app.extensions import db
    from models import AuditLog

    with app.app_context():
        return db.session.execute(select(func.max(AuditLog.id))).scalar() or 0


def audit_since(app, first_id, **where):
    from app.extensions import db
    from models import AuditLog

    with app.app_context():
        query = select(AuditLog).where(AuditLog.id > first_id).order_by(AuditLog.id)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        return [(r.action, r.actor, r.record_type, r.record_id, json.loads(r.changes or "{}"))
                for r in db.session.execute(query).scalars()]


def post_export(client, resource, fmt="csv", filters=None):
    response = client.post("/api/v1/export_job/", json={"resource": resource, "format": fmt,
                                                         "filters": filters or []})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["result"]


def job_row(app, job_id):
    from app.extensions import db
    from models import ExportJob

    with app.app_context():
        job = db.session.get(ExportJob, job_id)
        return {"unmasked": job.personal_data_unmasked, "state": job.state, "file_path": job.file_path,
                "created_by": job.created_by.username}


def member_id_card(app, member_id):
    from app.extensions import db
    from models import PartyMember

    with app.app_context():
        return db.session.get(PartyMember, member_id).id_card


def view_by_endpoint(app):
    return {view.endpoint: view for view in app.appbuilder.baseviews}


def download_rules(app):
    """Every GET route that hands out a stored file: the ``download`` endpoints of every
    registered view (FAB's ``/download/<filename>`` of every screen, the export job downloads)."""
    views = view_by_endpoint(app)
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.rsplit(".", 1)[-1] == "download" and "GET" in rule.methods]
    assert rules and all(rule.endpoint.rsplit(".", 1)[0] in views for rule in rules)
    return rules


def rule_url(app, rule, **values):
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values)


def may_call(app, username, view):
    """Whether ``username``'s role holds the permission FAB checks for ``view``'s download."""
    from app.core.roles import holds

    name = (getattr(view, "method_permission_name", None) or {}).get("download", "download")
    with app.app_context():
        return holds(user(app, username), f"can_{name}", view.class_permission_name)


# ---- export files -----------------------------------------------------------------------------
def export_rules(app):
    return [rule for rule in download_rules(app) if "pk" in rule.arguments]


def test_the_export_download_routes_are_found(app):
    found = sorted(rule.rule for rule in export_rules(app))
    assert found == ["/api/v1/export_job/<int:pk>/download", "/exportjobview/download/<pk>"]


def test_an_export_file_goes_only_to_its_requester(app, world, api, browser):
    requester = api("orgdept")
    job = post_export(requester, "party_member")  # orgdept sees ID-card numbers in full
    assert job["state"] == "done" and job["download_url"] == f"/api/v1/export_job/{job['id']}/download"
    assert job_row(app, job["id"])["unmasked"] is True
    full_id_card = member_id_card(app, world["m1"])
    start = last_audit_id(app)

    refused = 0
    for rule in export_rules(app):
        url = rule_url(app, rule, pk=job["id"])
        for username in DEMO:
            if username == "orgdept":
                continue
            client = api(username) if rule.rule.startswith("/api/") else browser(username)
            response = client.get(url)
            assert response.status_code == 404, (url, username, response.status_code)
            assert full_id_card.encode() not in response.data and b"\xef\xbb\xbf" not in response.data[:3]
            refused += 1
    denied = audit_since(app, start, action="denied")
    assert len(denied) == refused
    assert {actor for _a, actor, *_rest in denied} == set(DEMO) - {"orgdept"}
    assert all(record_type == "export_job" and record_id == str(job["id"]) for _a, _u, record_type, record_id, _c in denied)
    reasons = {actor: changes["reason"] for _a, actor, _t, _r, changes in denied}
    assert reasons.pop("auditor") == "not the requester"  # sees the job, never the file
    assert set(reasons.values()) == {"no such job visible to the user"}
    assert audit_since(app, start, action="download") == []  # nobody got it

    # The requester gets it, on both routes, and each download is an audit entry.
    for rule in export_rules(app):
        client = requester if rule.rule.startswith("/api/") else browser("orgdept")
        response = client.get(rule_url(app, rule, pk=job["id"]))
        assert response.status_code == 200 and full_id_card in response.data.decode("utf-8-sig")
    downloads = audit_since(app, start, action="download")
    assert [(actor, record_id) for _a, actor, _t, record_id, _c in downloads] == [("orgdept", str(job["id"]))] * 2
    assert all(changes["unmasked"] is True for *_rest, changes in downloads)


def test_auditors_see_the_job_but_never_the_file(app, world, api, browser):
    job = post_export(api("community1"), "party_member")
    auditor = api("auditor")
    seen = auditor.get(f"/api/v1/export_job/{job['id']}")
    assert seen.status_code == 200 and seen.json["result"]["created_by"] == "community1"
    assert seen.json["result"]["download_url"] is None  # metadata only
    listed = {row["id"]: row for row in auditor.get("/api/v1/export_job/").json["result"]}
    assert listed[job["id"]]["download_url"] is None
    page = browser("auditor").get("/exportjobview/list/").get_data(as_text=True)
    assert "gj-export-progress" in page  # the row is there...
    assert f"/exportjobview/download/{job['id']}" not in page  # ...without its file
    assert auditor.get(f"/api/v1/export_job/{job['id']}/download").status_code == 404
    own = browser("community1").get("/exportjobview/list/").get_data(as_text=True)
    assert f"/exportjobview/download/{job['id']}" in own


@pytest.fixture
def revocable_user(app):
    """An organisation-department account whose role a test may take away. Afterwards it holds
    no role at all, so tests that count the district's OrgDept accounts (reminder recipients) do
    not see it, whatever order they run in."""
    from app.extensions import db

    name = "orgdept_revocable"
    with app.app_context():
        sm = app.appbuilder.sm
        if sm.find_user(username=name) is None:
            sm.add_user(name, name, "测试", f"{name}@example.cn", sm.find_role("OrgDept"), PASSWORD)
        else:
            set_role(app, name, "OrgDept")
    yield name
    with app.app_context():
        account = app.appbuilder.sm.find_user(username=name)
        account.roles = [app.appbuilder.sm.find_role("Public")]
        db.session.commit()


def set_role(app, username, role):
    from app.extensions import db

    with app.app_context():
        account = app.appbuilder.sm.find_user(username=username)
        account.roles = [app.appbuilder.sm.find_role(role)]
        db.session.commit()


def test_an_unmasked_file_is_refused_once_its_requester_loses_the_permission(app, world, revocable_user,
                                                                                api, browser):
    client = api(revocable_user)
    unmasked = post_export(client, "party_member")
    plain = post_export(client, "need")  # no personal field in it
    assert job_row(app, unmasked["id"])["unmasked"] is True and job_row(app, plain["id"])["unmasked"] is False
    full_id_card = member_id_card(app, world["m1"])
    assert full_id_card in client.get(unmasked["download_url"]).data.decode("utf-8-sig")

    set_role(app, revocable_user, "Auditor")  # still reads members and exports, but masked
    assert client.get(unmasked["download_url"]).status_code == 401  # a role change ends the token
    client = api(revocable_user)
    start = last_audit_id(app)
    response = client.get(unmasked["download_url"])
    assert response.status_code == 404 and full_id_card.encode() not in response.data
    screen = browser(revocable_user).get(f"/exportjobview/download/{unmasked['id']}")
    assert screen.status_code == 404 and full_id_card.encode() not in screen.data
    assert client.get(f"/api/v1/export_job/{unmasked['id']}").json["result"]["download_url"] is None
    denied = audit_since(app, start, action="denied")
    assert [(actor, record_id, changes["reason"]) for _a, actor, _t, record_id, changes in denied] == \
        [(revocable_user, str(unmasked["id"]), "personal data permission withdrawn")] * 2
    # A file without personal data is still theirs; a masked viewer's own export too.
    assert client.get(plain["download_url"]).status_code == 200
    masked = post_export(client, "party_member")
    assert job_row(app, masked["id"])["unmasked"] is False
    text = client.get(masked["download_url"]).data.decode("utf-8-sig")
    assert full_id_card not in text and full_id_card[:6] + "********" + full_id_card[-4:] in text

    set_role(app, revocable_user, "OrgDept")  # the permission back: the file is theirs again
    assert full_id_card in api(revocable_user).get(unmasked["download_url"]).data.decode("utf-8-sig")


def test_a_masked_viewers_file_never_holds_full_values(app, world, api):
    client = api("community1")
    job = post_export(client, "party_member")
    assert job_row(app, job["id"])["unmasked"] is False
    text = client.get(job["download_url"]).data.decode("utf-8-sig")
    assert member_id_card(app, world["m1"]) not in text and "张丽" in text


# ---- attachments ------------------------------------------------------------------------------
def attachment_models():
    """Every mapped model with a FileColumn / ImageColumn, and those columns."""
    from flask_appbuilder import Model

    from app.attachments import attachment_columns

    found = {}
    for mapper in Model.registry.mappers:
        columns = attachment_columns(mapper.class_)
        if columns:
            found[mapper.class_] = columns
    return found


@pytest.fixture
def attachments(app, world):
    """A distinct file on every row of every model with a file column (one row per community in
    the test district), plus an orphan file in the upload folder that no record holds."""
    from app.core.actor import acting_as
    from app.extensions import db

    folder = app.config["UPLOAD_FOLDER"]
    os.makedirs(folder, exist_ok=True)
    files = []
    with app.app_context(), acting_as(None, via="test"):
        for model, columns in attachment_models().items():
            for record in db.session.execute(select(model).order_by(model.id)).scalars():
                for column in columns:
                    name = f"{uuid.uuid4()}_sep_{model.__tablename__}-{record.id}.pdf"
                    content = f"%PDF {model.__tablename__} {record.id} {uuid.uuid4()}".encode()
                    with open(os.path.join(folder, name), "wb") as out:
                        out.write(content)
                    setattr(record, column, name)
                    files.append({"model": model, "id": record.id, "column": column, "name": name,
                                  "content": content})
        db.session.commit()
    orphan = f"{uuid.uuid4()}_sep_orphan.pdf"
    with open(os.path.join(folder, orphan), "wb") as out:
        out.write(b"%PDF orphan")
    yield {"files": files, "orphan": orphan}
    for item in files:
        os.remove(os.path.join(folder, item["name"]))
    os.remove(os.path.join(folder, orphan))


def attachment_rules(app):
    return [rule for rule in download_rules(app) if "filename" in rule.arguments]


def visible_to(app, username, model, record_id):
    from app.core.actor import acting_as
    from app.extensions import db
    from tests.factories import is_visible

    with app.app_context():
        account = user(app, username)
        with acting_as(account, via="test"):
            return is_visible(db.session.get(model, record_id))


def test_every_attachment_goes_only_to_users_whose_scope_holds_its_record(app, attachments, browser):
    files = attachments["files"]
    assert {item["model"].__tablename__ for item in files} >= {"agreement", "unit_report", "resolution"}
    views = view_by_endpoint(app)
    rules = attachment_rules(app)
    screens = {views[rule.endpoint.rsplit(".", 1)[0]].datamodel.obj for rule in rules}
    assert set(attachment_models()) <= screens  # every model with a file has a screen serving it
    clients = {username: browser(username) for username in DEMO}
    start = last_audit_id(app)
    served = []
    for rule in rules:
        view = views[rule.endpoint.rsplit(".", 1)[0]]
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        own = [item for item in files if item["model"] is model]
        tried = own or files[:1]  # another model's file: never served by this screen
        for username in DEMO:
            allowed = may_call(app, username, view)
            for item in tried:
                response = clients[username].get(rule_url(app, rule, filename=item["name"]))
                expected = item["model"] is model and allowed and visible_to(app, username, model, item["id"])
                if expected:
                    assert response.status_code == 200, (rule.rule, username, item["name"])
                    assert response.data == item["content"]
                    assert item["name"].split("_sep_", 1)[1] in response.headers["Content-Disposition"]
                    served.append((username, item["model"].__tablename__, str(item["id"])))
                else:
                    assert response.status_code == (404 if allowed else 403), \
                        (rule.rule, username, item["name"], response.status_code)
                    assert item["content"] not in response.data
    # Scope decides: community2 gets their own agreement's file and never community1's.
    by_user = {}
    for username, table, record_id in served:
        by_user.setdefault(username, set()).add((table, record_id))
    assert by_user.get("community1") and by_user.get("community2")
    assert not by_user["community1"] & by_user["community2"]
    assert "security" not in by_user  # reads no business record
    # Every file served is one audit entry: who, which record, which file.
    downloads = audit_since(app, start, action="download")
    assert sorted((actor, table, record_id) for _a, actor, table, record_id, _c in downloads) == sorted(served)
    assert all(changes["file"] and changes["column"] for *_rest, changes in downloads)


def test_attachment_names_no_record_holds_and_path_tricks_answer_404(app, attachments, browser):
    admin = browser("admin")  # reads every agreement of the district
    agreement = next(item for item in attachments["files"] if item["model"].__tablename__ == "agreement")
    assert admin.get(f"/agreementview/download/{agreement['name']}").status_code == 200
    start = last_audit_id(app)
    tricks = [attachments["orphan"], "gongjian.sqlite", "..", "..%2Fgongjian.sqlite", "%2E%2E%2Fgongjian.sqlite",
              "..%5Cgongjian.sqlite", "uploads", agreement["name"] + "%00", agreement["name"].upper(),
              "%2Fetc%2Fpasswd", "..%2F..%2F..%2Fetc%2Fpasswd"]
    routed = 0
    for name in tricks:
        response = admin.get(f"/agreementview/download/{name}")
        assert response.status_code == 404, (name, response.status_code)
        assert b"SQLite format" not in response.data and b"orphan" not in response.data
        routed += reaches(app, f"/agreementview/download/{name}", "AgreementView.download")
    assert audit_since(app, start, action="download") == []
    denied = audit_since(app, start, action="denied")
    assert routed >= 6 and len(denied) == routed  # each refusal the screen saw is an audit entry
    assert all(actor == "admin" and table == "agreement" for _a, actor, table, _id, _c in denied)


def reaches(app, path, endpoint):
    """Whether ``path`` (as a client sends it) is routed to ``endpoint``."""
    from werkzeug.exceptions import HTTPException

    try:
        return app.url_map.bind("localhost").match(unquote(path))[0] == endpoint
    except HTTPException:
        return False


def test_a_record_holding_a_path_outside_the_upload_folder_serves_nothing(app, world):
    from app.attachments import find_attachment
    from app.core.actor import acting_as
    from app.extensions import db
    from models import Agreement

    outside = os.path.join(app.config["DATA_DIR"], "outside.txt")
    with open(outside, "w") as out:
        out.write("secret")
    try:
        with app.app_context(), acting_as(None, via="test"):
            agreement = db.session.execute(select(Agreement).order_by(Agreement.id)).scalars().first()
            agreement.file = "../outside.txt"
            db.session.commit()
            view = view_by_endpoint(app)["AgreementView"]
            assert find_attachment(view.datamodel, view._base_filters, "../outside.txt") is None
            agreement.file = "outside.txt"  # a plain name, but not in the upload folder
            db.session.commit()
            assert find_attachment(view.datamodel, view._base_filters, "outside.txt") is None
    finally:
        os.remove(outside)


# ---- filter values ----------------------------------------------------------------------------
# (kind, resource, column, operator, a value that does not parse, the user). Each kind of value.
BAD_VALUES = [
    ("date", "member_checkin", "registered_on", "gt", "2026-13-45", "orgdept"),
    ("date", "service_record", "served_on", "lt", "last week", "community1"),
    ("datetime", "audit_log", "at", "gt", "yesterday", "auditor"),
    ("number", "service_quota", "min_hours", "gt", "many", "orgdept"),
    ("integer", "grade_option", "rank", "eq", "1.5", "orgdept"),
    ("choice", "member_checkin", "status", "eq", "bogus", "orgdept"),
    ("relation", "member_checkin", "community", "rel_o_m", "abc", "orgdept"),
    ("boolean", "meeting_type", "active", "eq", "maybe", "orgdept"),
]
IDS = [f"{kind}-{resource}.{column}" for kind, resource, column, *_rest in BAD_VALUES]


def export_resource(app, name):
    from app.exports.resources import resources

    with app.app_context():
        return resources()[name]


def nothing_written(app):
    """What an export leaves behind: jobs, export audit entries, files under the data dir."""
    from app.extensions import db
    from models import AuditLog, ExportJob

    base = os.path.join(app.config["DATA_DIR"], "exports")
    files = sum(len(names) for _dir, _subdirs, names in os.walk(base)) if os.path.isdir(base) else 0
    with app.app_context():
        return (db.session.execute(select(func.count(ExportJob.id))).scalar(),
                db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "export")).scalar(),
                files)


def filter_index(view, column, operator):
    names = [flt.arg_name for flt in view.datamodel.get_filters(view.search_columns)._all_filters[column]]
    return names.index(operator)


def assert_names_the_column(message, column):
    assert isinstance(message, dict) and list(message) == ["filters"], message
    assert len(message["filters"]) == 1 and f"({column})" in message["filters"][0], message


@pytest.mark.parametrize("kind, resource, column, operator, value, username", BAD_VALUES, ids=IDS)
def test_a_bad_filter_value_is_refused_by_the_export_api(kind, resource, column, operator, value, username,
                                                        app, world, api):
    before = nothing_written(app)
    response = api(username).post("/api/v1/export_job/", json={
        "resource": resource, "format": "csv", "filters": [{"col": column, "opr": operator, "value": value}]})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert_names_the_column(response.json["message"], column)
    assert value in response.json["message"]["filters"][0]
    assert nothing_written(app) == before


@pytest.mark.parametrize("kind, resource, column, operator, value, username", BAD_VALUES, ids=IDS)
def test_a_bad_filter_value_is_refused_by_the_list_api(kind, resource, column, operator, value, username,
                                                      app, world, api):
    client = api(username)
    query = prison.dumps({"filters": [{"col": column, "opr": operator, "value": value}]})
    response = client.get(f"/api/v1/{resource}/?{urlencode({'q': query})}")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert_names_the_column(response.json["message"], column)
    assert "result" not in response.json


@pytest.mark.parametrize("kind, resource, column, operator, value, username", BAD_VALUES, ids=IDS)
def test_a_bad_filter_value_is_refused_by_the_list_screen_and_its_export_button(
        kind, resource, column, operator, value, username, app, world, browser):
    view = export_resource(app, resource).view
    if column not in (view.search_columns or []):
        pytest.skip(f"the {resource} screen does not search by {column}")
    client = browser(username)
    query = urlencode({f"_flt_{filter_index(view, column, operator)}_{column}": value})
    plain = client.get(f"{view.route_base}/list/")
    assert plain.status_code == 200
    response = client.get(f"{view.route_base}/list/?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"({column})" in page and "alert-danger" in page
    assert re.search(rf"{view.route_base}/show/\d+", plain.get_data(as_text=True))  # rows without the filter
    assert not re.search(rf"{view.route_base}/show/\d+", page)  # none with it: never every row

    before = nothing_written(app)
    response = client.post("/exportjobview/start", data={"resource": resource, "format": "csv", "query": query},
                           with_token_from=f"{view.route_base}/list/")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "(filters)" in page and f"({column})" in page
    assert nothing_written(app) == before


@pytest.mark.parametrize("kind, resource, column, operator, value, username", BAD_VALUES, ids=IDS)
def test_a_bad_filter_value_is_refused_by_the_cli(kind, resource, column, operator, value, username,
                                                 app, world, tmp_path):
    out = tmp_path / "out.csv"
    before = nothing_written(app)
    result = app.test_cli_runner().invoke(args=["gongjian", "export", resource, "--as", username, "--out", str(out),
                                                "--filter", f"{column}={value}"])
    assert result.exit_code != 0, result.output
    assert "filters" in result.output and f"({column})" in result.output, result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # not even a partial file
    assert nothing_written(app) == before


def test_good_filter_values_still_filter(app, world, api, browser):
    """The typed values reach the query on both backends: a date, a choice code or its label, a
    yes/no, a number, a whole number, an aware date-and-time, a related id."""
    orgdept = api("orgdept")

    def count(resource, column, operator, value, client=orgdept):
        query = prison.dumps({"filters": [{"col": column, "opr": operator, "value": value}]})
        response = client.get(f"/api/v1/{resource}/?{urlencode({'q': query})}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["count"]

    everything = orgdept.get("/api/v1/member_checkin/").json["count"]
    assert everything == 2  # one per community
    assert count("member_checkin", "registered_on", "gt", "2000-01-01") == everything
    assert count("member_checkin", "registered_on", "gt", "2999-01-01") == 0
    assert count("member_checkin", "status", "eq", "confirmed") == 1
    assert count("member_checkin", "status", "eq", "社区已确认") == 1  # the label as the screen shows it
    assert count("member_checkin", "status", "in", ["confirmed", "registered"]) == everything
    assert count("member_checkin", "community", "rel_o_m", world["c2"]) == 1
    assert count("member_checkin", "community", "rel_o_m", str(world["c1"])) == 1
    assert count("meeting_type", "active", "eq", "false") == 0
    assert count("meeting_type", "active", "eq", True) == orgdept.get("/api/v1/meeting_type/").json["count"] > 0
    assert count("service_quota", "min_hours", "gt", "-1") == orgdept.get("/api/v1/service_quota/").json["count"]
    assert count("grade_option", "rank", "gt", "-1000") == orgdept.get("/api/v1/grade_option/").json["count"]
    assert count("audit_log", "at", "gt", "2000-01-01T00:00:00+08:00", client=api("auditor")) > 0
    # The screen and an export with the same good value agree.
    page = browser("orgdept").get("/membercheckinview/list/?_flt_0_status=confirmed")
    assert page.status_code == 200 and "alert-danger" not in page.get_data(as_text=True)
    job = post_export(orgdept, "member_checkin", filters=[{"col": "registered_on", "opr": "gt",
                                                           "value": "2000-01-01"}])
    assert job["row_count"] == everything
    assert job_row(app, job["id"])["state"] == "done"
