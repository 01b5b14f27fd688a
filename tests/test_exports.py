"""Exports (issue 6, items 1–4): scope and masking of the rows, the files (BOM, formula guard,
XLSX dates, frozen header, sheet split), the job's life (done, failed, killed, expired), who may
see a job, the 导出 button and 我的导出 screen, the REST resource, the CLI, and the audit trail.
"""
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import run_cli

from tests.factories import unchanged, user

PROJECT_DIR = Path(__file__).resolve().parent.parent
FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def read_csv(data):
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    assert text.startswith("\ufeff"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(text[1:])))


def post_export(client, resource, fmt="csv", filters=None, **extra):
    response = client.post("/api/v1/export_job/", json={"resource": resource, "format": fmt,
                                                         "filters": filters or [], **extra})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["result"]


def download(client, job):
    response = client.get(f"/api/v1/export_job/{job['id']}/download")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def export_rows(api, username, resource, fmt="csv", filters=None):
    client = api(username)
    job = post_export(client, resource, fmt, filters)
    assert job["state"] == "done", job  # eager Celery in tests: the job ran inside the request
    return job, read_csv(download(client, job))


# ---- rows: scope, filters, masking ---------------------------------------------------------
def test_community_admin_exports_exactly_their_rows(app, world, api):
    job, rows = export_rows(api, "community1", "party_member")
    assert rows[0][:4] == ["姓名", "性别", "身份证号码", "手机号码"]  # the screen's Chinese labels
    assert [r[0] for r in rows[1:]] == ["张丽"]  # 李明 lives in the other community
    assert job["row_count"] == 1 and job["rows_total"] == 1

    _job, rows = export_rows(api, "orgdept", "party_member")
    assert sorted(r[0] for r in rows[1:]) == ["张丽", "李明"]


def test_a_filter_narrows_the_export(app, world, api):
    _job, rows = export_rows(api, "orgdept", "party_member", filters=[{"col": "community", "opr": "rel_o_m",
                                                                       "value": world["c2"]}])
    assert [r[0] for r in rows[1:]] == ["李明"]
    _job, rows = export_rows(api, "orgdept", "party_member", filters={"name": "张丽"})  # mapping: equals
    assert [r[0] for r in rows[1:]] == ["张丽"]
    # A filter cannot widen the scope: community1 asking for the other community gets nothing.
    _job, rows = export_rows(api, "community1", "party_member", filters=[{"col": "community", "opr": "rel_o_m",
                                                                          "value": world["c2"]}])
    assert rows[1:] == []


def test_masking_follows_the_role(app, world, api):
    from models import PartyMember

    with app.app_context():
        from app.extensions import db

        zhang = db.session.get(PartyMember, world["m1"])
        id_card, phone = zhang.id_card, zhang.phone
    _job, rows = export_rows(api, "community1", "party_member")
    assert rows[1][2] == id_card[:6] + "*" * 8 + id_card[-4:]
    assert rows[1][3] == phone[:3] + "****" + phone[-4:]
    _job, rows = export_rows(api, "orgdept", "party_member", filters={"name": "张丽"})
    assert rows[1][2:4] == [id_card, phone]  # the organisation department sees them in full


def test_liaison_exports_only_their_unit(app, world, api):
    _job, rows = export_rows(api, "liaison1", "party_member")
    assert [r[0] for r in rows[1:]] == ["张丽"]


# ---- files ---------------------------------------------------------------------------------
def add_needs_with_formulas(app, community_id):
    from app.extensions import db
    from models import Area, Need

    with app.app_context():
        area = db.session.get(Area, community_id)
        for title in FORMULAS:
            db.session.add(Need(area=area, title=title, category="elderly", submitted_on=date(2026, 3, 5)))
        db.session.commit()


def test_csv_has_a_bom_and_neutralises_formulas(app, world, api):
    add_needs_with_formulas(app, world["c1"])
    _job, rows = export_rows(api, "community1", "need")
    titles = [r[0] for r in rows[1:]]
    for formula in FORMULAS:
        assert "'" + formula in titles, (formula, titles)
    assert not any(t[:1] in ("=", "+", "-", "@", "\t", "\r") for t in titles)


def xlsx_sheets(data):
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(data))


def test_xlsx_has_dates_frozen_header_and_no_formulas(app, world, api):
    add_needs_with_formulas(app, world["c1"])
    client = api("community1")
    job = post_export(client, "need", "xlsx")
    data = download(client, job)
    book = xlsx_sheets(data)
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [cell.value for cell in sheet[1]]
    assert header[0] == "标题" and "提交日期" in header
    # (xlsxwriter stores a carriage return as OOXML's escape _x000D_, which Excel reads back as \r)
    titles = [row[0].value.replace("_x000D_", "\r") for row in sheet.iter_rows(min_row=2)]
    for formula in FORMULAS:
        assert formula in titles  # kept as text: an XLSX string cell is never a formula
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()
    date_column = header.index("提交日期")
    dates = [row[date_column].value for row in sheet.iter_rows(min_row=2) if row[date_column].value]
    assert dates and all(hasattr(d, "year") for d in dates)  # real dates, not text
    assert sheet.column_dimensions["A"].width >= 14
    notes = book.worksheets[-1]
    assert notes.title == "导出说明"
    assert notes["B2"].value == "community1"


def test_xlsx_continues_on_a_second_sheet_past_excel_rows(tmp_path):
    """1,048,576 data rows: 1,048,575 on the first sheet (under the header), one on the second."""
    from app.exports.files import XLSX_SHEET_ROWS, Progress, new_workbook, write_sheets

    count = XLSX_SHEET_ROWS + 1
    batches = ([(i,) for i in range(start, min(start + 50_000, count))] for start in range(0, count, 50_000))
    path = tmp_path / "big.xlsx"
    workbook = new_workbook(str(path), str(tmp_path))
    progress = Progress()
    assert write_sheets(workbook, "行", ["编号"], ["number"], batches, progress) == count
    workbook.close()
    assert progress.rows == count
    with zipfile.ZipFile(path) as archive:
        names = re.findall(r'<sheet name="([^"]+)"', archive.read("xl/workbook.xml").decode())
        assert names == ["行", "行 (2)"]
        first = archive.read("xl/worksheets/sheet1.xml")
        assert b'<dimension ref="A1:A1048576"/>' in first
        second = archive.read("xl/worksheets/sheet2.xml").decode()
        assert '<dimension ref="A1:A2"/>' in second
        assert f"<v>{count - 1}</v>" in second  # the last row


# ---- who sees a job ------------------------------------------------------------------------
def test_another_user_gets_404_for_a_job_and_its_file(app, world, api, browser):
    client = api("community1")
    job = post_export(client, "party_member")
    for other in ("community2", "street1", "orgdept"):
        other_client = api(other)
        assert other_client.get(f"/api/v1/export_job/{job['id']}").status_code == 404
        assert other_client.get(f"/api/v1/export_job/{job['id']}/download").status_code == 404
        assert job["id"] not in [j["id"] for j in other_client.get("/api/v1/export_job/").json["result"]]
    assert browser("community2").get(f"/exportjobview/download/{job['id']}").status_code == 404
    assert browser("community2").get(f"/exportjobview/show/{job['id']}").status_code == 404
    assert browser("community1").get(f"/exportjobview/show/{job['id']}").status_code == 200
    progress = browser("community2").get(f"/exportjobview/progress?ids={job['id']}").json
    assert progress == {}
    # The auditor sees it, for the record, and so does its requester.
    assert api("auditor").get(f"/api/v1/export_job/{job['id']}").status_code == 200
    own = client.get(f"/api/v1/export_job/{job['id']}").json["result"]
    assert own["state"] == "done" and own["percent"] == 100 and own["created_by"] == "community1"


def test_bad_requests_answer_400_with_the_field(app, world, api):
    client = api("community1")
    cases = [
        ({"resource": "nothing", "format": "csv"}, "resource"),
        ({"resource": "audit_log", "format": "csv"}, "resource"),  # not readable by a community admin
        ({"resource": "party_member", "format": "pdf"}, "format"),
        ({"resource": "party_member", "format": "csv", "filters": [{"col": "id_card", "value": "x"}]}, "filters"),
        ({"resource": "party_member", "format": "csv", "filters": [{"col": "name", "opr": "bogus", "value": "x"}]},
         "filters"),
        ({"resource": "party_member", "format": "csv", "filters": "name=x"}, "filters"),
        # A value that does not parse is refused, not dropped (tests/test_downloads.py: every kind).
        ({"resource": "member_checkin", "format": "csv",
          "filters": [{"col": "registered_on", "opr": "gt", "value": "soon"}]}, "filters"),
        ({"resource": "party_member", "format": "csv", "params": {"order": [None, "up"]}}, "params"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/export_job/", json=body)
        assert response.status_code == 400, (body, response.get_data(as_text=True))
        assert field in response.json["message"], (body, response.json)
    assert client.post("/api/v1/export_job/", json=[1]).status_code == 400
    assert client.get("/api/v1/export_job/999999").status_code == 404


# ---- failures ------------------------------------------------------------------------------
def test_a_failing_export_ends_failed_with_its_reason_and_no_file(app, world, api, monkeypatch):
    import app.exports.running as exports

    def broken(export, path, progress, notes=()):
        with open(path, "w") as partial:
            partial.write("half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "write_csv", broken)
    client = api("community1")
    job = post_export(client, "party_member")
    assert job["state"] == "failed"
    assert "disk full" in job["error"]
    assert client.get(f"/api/v1/export_job/{job['id']}/download").status_code == 404
    with app.app_context():
        from app.extensions import db
        from models import ExportJob

        directory = Path(exports.export_dir(db.session.get(ExportJob, job["id"])))
    assert not directory.exists() or os.listdir(directory) == []


KILLED_WORKER = r"""
import sys, time
sys.path.insert(0, {tests!r})
from conftest import make_app
from pathlib import Path
import app.exports.running as exports
import app.exports.files as files

def crawl(export, path, progress, notes=()):
    # the real rows, written slowly enough to be killed mid-file
    with open(path, "w") as out:
        for batch in files.stream_rows(export.statement()):
            for row in batch:
                out.write(repr(row))
                out.flush()
                progress.add(1)
                time.sleep(2)
    return progress.rows

exports.write_csv = crawl
application = make_app(Path({data_dir!r}), {url!r})
with application.app_context():
    exports.run_job({job_id})
"""


def test_a_killed_worker_leaves_a_failed_job_and_no_file(app, world, api, tmp_path):
    """A real process runs the export and is killed with SIGKILL mid-file; the sweeper fails the
    job and removes the partial file."""
    from app.exports.housekeeping import sweep_stale_jobs
    from app.extensions import db
    from models import ExportJob

    with app.app_context():
        job = ExportJob(kind="list", resource="unit_checkin", format="csv", state="pending", rows_done=0,
                        filters="[]", params="{}", via="api", created_by_id=user(app, "orgdept").id)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    script = KILLED_WORKER.format(tests=str(PROJECT_DIR / "tests"), data_dir=app.config["DATA_DIR"],
                                  url=app.config["SQLALCHEMY_DATABASE_URI"], job_id=job_id)
    with app.app_context():
        from app.exports.running import export_dir

        directory = Path(export_dir(db.session.get(ExportJob, job_id)))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_DIR)
    try:
        deadline = time.time() + 60
        partial = None
        while time.time() < deadline and partial is None:
            time.sleep(0.1)
            parts = list(directory.glob(".*.part"))
            partial = parts[0] if parts else None
            assert process.poll() is None, "the worker ended before it could be killed"
        assert partial is not None, "the worker never started the file"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(ExportJob, job_id).state == "running"  # nobody told the database
        assert sweep_stale_jobs(stale_seconds=0) == [job_id]
        killed = db.session.get(ExportJob, job_id)
        assert killed.state == "failed" and "导出已中断" in killed.error
        assert killed.file_path is None
    assert not partial.exists()
    assert api("orgdept").get(f"/api/v1/export_job/{job_id}/download").status_code == 404


def test_files_expire_and_the_sweeper_runs_on_beat(app, world, api):
    from app.celery_app import beat_schedule
    from app.exports.housekeeping import expire_jobs
    from app.extensions import db
    from models import ExportJob

    client = api("community1")
    job = post_export(client, "party_member")
    with app.app_context():
        row = db.session.get(ExportJob, job["id"])
        path = Path(app.config["DATA_DIR"]) / row.file_path
        assert path.exists()
        days = app.config["EXPORT_RETENTION_DAYS"]
        assert (row.expires_at - row.finished_at).days == days
        assert expire_jobs(now=row.expires_at - timedelta(minutes=1)) == 0
        assert expire_jobs(now=row.expires_at + timedelta(minutes=1)) == 1
        assert db.session.get(ExportJob, job["id"]).state == "expired"
    assert not path.exists()
    assert client.get(f"/api/v1/export_job/{job['id']}/download").status_code == 404
    assert beat_schedule(app.config)["sweep-exports"]["task"] == "tasks.exports.sweep_exports"


# ---- screens -------------------------------------------------------------------------------
def test_export_button_exports_what_the_screen_shows(app, world, browser):
    user_browser = browser("orgdept")
    list_url = f"/partymemberview/list/?_flt_0_community={world['c2']}"
    page = user_browser.get(list_url).get_data(as_text=True)
    assert "ExportJobView/start".lower() in page.lower() or "/exportjobview/start" in page
    assert 'name="resource" value="party_member"' in page
    query = re.search(r'name="query" value="([^"]*)"', page).group(1).replace("&amp;", "&")
    response = user_browser.post("/exportjobview/start", data={"resource": "party_member", "format": "csv",
                                                               "query": query}, with_token_from=list_url)
    assert response.status_code == 302 and "/exportjobview/list" in response.headers["Location"]
    jobs_page = user_browser.get("/exportjobview/list/").get_data(as_text=True)
    assert "gj-export-progress" in jobs_page and "js/exports.js" in jobs_page
    link = re.search(r'href="(/exportjobview/download/\d+)"', jobs_page).group(1)
    rows = read_csv(user_browser.get(link).data)
    assert [r[0] for r in rows[1:]] == ["李明"]
    job_id = link.rsplit("/", 1)[1]
    progress = user_browser.get(f"/exportjobview/progress?ids={job_id}").json
    assert progress[job_id]["state"] == "done" and progress[job_id]["percent"] == 100


def test_export_start_needs_a_csrf_token(app, world, browser):
    user_browser = browser("orgdept")
    with unchanged(app):  # no job, no export entry, no file
        response = user_browser.post("/exportjobview/start", data={"resource": "party_member", "format": "csv"})
        assert response.status_code == 400


def test_my_exports_lists_only_my_jobs(app, world, browser, api):
    post_export(api("community2"), "party_member")
    page = browser("community1").get("/exportjobview/list/").get_data(as_text=True)
    assert "gj-export-progress" not in page
    assert "gj-export-progress" in browser("community2").get("/exportjobview/list/").get_data(as_text=True)


# ---- CLI -----------------------------------------------------------------------------------
def test_cli_exports_as_a_user(app, world, tmp_path):
    out = tmp_path / "members.csv"
    result = run_cli(app, "gongjian", "export", "party_member", "--format", "csv", "--as", "community1",
                     "--out", str(out))
    assert "1 rows" in result.output
    assert [r[0] for r in read_csv(out.read_bytes())[1:]] == ["张丽"]
    result = run_cli(app, "gongjian", "export", "party_member", "--as", "orgdept", "--out", str(out),
                     "--filter", f"community={world['c2']}")
    assert "1 rows" in result.output and read_csv(out.read_bytes())[1][0] == "李明"
    xlsx = tmp_path / "members.xlsx"
    run_cli(app, "gongjian", "export", "party_member", "--format", "xlsx", "--as", "orgdept", "--out", str(xlsx))
    assert xlsx_sheets(xlsx.read_bytes()).worksheets[0].max_row == 3
    written = out.read_bytes()
    with unchanged(app):
        bad = app.test_cli_runner().invoke(args=["gongjian", "export", "party_member", "--as", "orgdept", "--out",
                                                 str(out), "--filter", "id_card=1"])
        assert bad.exit_code != 0 and "id_card" in bad.output
    assert out.read_bytes() == written  # the refused export did not overwrite the earlier file


# ---- audit ---------------------------------------------------------------------------------
def test_export_requests_and_downloads_are_audited(app, world, api):
    from app.extensions import db
    from models import AuditLog

    client = api("community1")
    job = post_export(client, "party_member", filters={"name": "张丽"})
    download(client, job)
    with app.app_context():
        entries = db.session.query(AuditLog).filter(AuditLog.record_type == "export_job",
                                                    AuditLog.record_id == str(job["id"])).all()
        actions = sorted(e.action for e in entries)
        assert actions == ["download", "export"]
        assert all(e.actor == "community1" for e in entries)
        request = next(e for e in entries if e.action == "export")
        assert json.loads(request.changes)["filters"] == [{"col": "name", "opr": "eq", "value": "张丽"}]


def test_audit_log_export_carries_the_chain_verification(app, world, api):
    client = api("auditor")
    job = post_export(client, "audit_log", filters=[{"col": "action", "opr": "eq", "value": "login"}])
    rows = read_csv(download(client, job))
    assert rows[0][:3] == ["编号", "时间", "操作人"]
    data_rows = rows[1:rows.index([])]
    assert data_rows and all(r[7] == "登录" for r in data_rows)  # the action's label, filtered
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", data_rows[0][1])
    verification = dict(r for r in rows[rows.index([]) + 1:] if len(r) == 2)
    assert verification["审计链校验"].startswith("通过")
    job = post_export(client, "audit_log", "xlsx")
    notes = xlsx_sheets(download(client, job)).worksheets[-1]
    values = {row[0].value: row[1].value for row in notes.iter_rows()}
    assert values["审计链校验"].startswith("通过")


# ---- a real worker -------------------------------------------------------------------------
def test_export_through_a_real_celery_worker_on_redis(app, world, api):
    import uuid

    import celery.contrib.testing.tasks  # noqa: F401
    import redis
    from celery.contrib.testing.worker import start_worker
    from conftest import service_unavailable

    from app.celery_app import celery_app, init_celery
    from tests.test_tasks import REDIS_URL

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError:
        service_unavailable(f"Redis ({REDIS_URL})")
    queue = f"gongjian-export-{uuid.uuid4().hex[:8]}"
    saved = {key: app.config[key] for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_ALWAYS_EAGER")}
    app.config.update(CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL, CELERY_ALWAYS_EAGER=False,
                      CELERY_DEFAULT_QUEUE=queue)
    init_celery(app)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=10):
            client = api("community1")
            job = post_export(client, "party_member", "xlsx")
            assert job["state"] in ("pending", "running", "done")
            deadline = time.time() + 30
            while job["state"] not in ("done", "failed") and time.time() < deadline:
                time.sleep(0.1)
                job = client.get(f"/api/v1/export_job/{job['id']}").json["result"]
            assert job["state"] == "done", job
            assert job["row_count"] == 1
            assert xlsx_sheets(download(client, job)).worksheets[0]["A2"].value == "张丽"
    finally:
        connection.delete(queue)
        app.config.update(saved)
        app.config.pop("CELERY_DEFAULT_QUEUE", None)
        init_celery(app)


@pytest.mark.parametrize("username", ["community1", "liaison1", "street1", "orgdept"])
def test_every_list_exports_as_many_rows_as_the_user_may_list(username, app, world, api):
    """Generated from the registered lists: an export holds exactly the rows the API lists for the
    same user (scope applied the same way), for every list the user may read."""
    from app.exports.resources import resources

    client = api(username)
    with app.app_context():
        names = sorted(resources())
    checked = 0
    for name in names:
        listed = client.get(f"/api/v1/{name}/?q=(page_size:100)")
        if listed.status_code == 403:
            response = client.post("/api/v1/export_job/", json={"resource": name, "format": "csv"})
            assert response.status_code == 400 and "resource" in response.json["message"], name
            continue
        job = post_export(client, name)
        assert job["state"] == "done", (name, job)
        assert job["row_count"] == listed.json["count"], (username, name)
        checked += 1
    assert checked >= 5


def test_export_registries_name_existing_tables_and_columns():
    """The tables and columns the export rules name exist: a renamed table or column cannot
    silently fall out of them."""
    from flask_appbuilder import Model
    from sqlalchemy import DateTime

    from app.exports.query import DISPLAY_BY_TABLE, UTC_COLUMNS

    tables = Model.metadata.tables
    assert set(UTC_COLUMNS) | set(DISPLAY_BY_TABLE) <= set(tables)
    for table, columns in UTC_COLUMNS.items():
        assert all(isinstance(tables[table].c[name].type, DateTime) for name in columns)
    models = {mapper.class_.__tablename__: mapper.class_ for mapper in Model.registry.mappers}
    for table, shown in DISPLAY_BY_TABLE.items():
        shown(models[table])  # builds its SQL from the columns it names
