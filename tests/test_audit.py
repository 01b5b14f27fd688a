"""The audit log: every write from every path leaves an entry, rollbacks leave none, and the hash
chain exposes tampering."""
import json

from sqlalchemy import select, text

from app.core.actor import acting_as
from app.core.audit_chain import verify_chain
from app.demo.fakedata import FakeData
from app.extensions import db

fake = FakeData(seed=41)


def entries(app, **filters):
    from models import AuditLog

    with app.app_context():
        query = select(AuditLog).order_by(AuditLog.id)
        for key, value in filters.items():
            query = query.where(getattr(AuditLog, key) == value)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return rows


def test_api_create_update_delete_are_audited_with_masked_diff(world, api, app):
    client = api("community1")
    id_card = fake.id_card(region="650102")
    created = client.post("/api/v1/party_member/", json={"name": "审计", "id_card": id_card, "area": world["g11"],
                                                         "phone": "13812345678"})
    pk = created.json["id"]
    client.put(f"/api/v1/party_member/{pk}", json={"phone": "13987654321"})
    client.delete(f"/api/v1/party_member/{pk}")
    rows = entries(app, record_type="party_member", record_id=str(pk))
    assert [r.action for r in rows] == ["create", "update", "delete"]
    create, update, delete = rows
    assert create.actor == "community1" and create.roles == "CommunityAdmin" and create.via == "api"
    assert create.client_addr == "127.0.0.1" and create.request_id
    changes = json.loads(create.changes)
    assert changes["name"] == [None, "审计"]
    assert changes["id_card"][1] == id_card[:6] + "********" + id_card[-4:]
    assert changes["id_card_digest"][1] == "***"
    assert json.loads(update.changes) == {"phone": ["138****5678", "139****4321"]}
    assert json.loads(delete.changes)["name"] == ["审计", None]
    assert create.area_id == world["g11"]


def test_screen_edit_is_audited_as_web(world, browser, app):
    user = browser("community1")
    response = user.submit(f"/areaview/edit/{world['g12']}", {
        "parent": str(world["c1"]), "level": "grid", "code": "650102001001002", "name": "幸福社区第二网格",
        "grid_worker": "张丹丹", "grid_worker_phone": "", "household_heads": "12", "central_households": "3",
        "note": ""})
    assert response.status_code == 302
    row = entries(app, record_type="area", record_id=str(world["g12"]), action="update")[-1]
    assert row.via == "web" and row.actor == "community1"
    assert json.loads(row.changes)["grid_worker"] == [None, "张丹丹"]


def test_cli_and_task_work_is_audited_with_who_it_acts_for(world, app):
    from models import Setting

    with app.app_context():
        user = app.appbuilder.sm.find_user(username="admin")
        with acting_as(user, via="task"):
            db.session.query(Setting).filter_by(key="points_per_hour").one().value = "2"
            db.session.commit()
        with acting_as(None, via="cli"):
            db.session.query(Setting).filter_by(key="points_per_hour").one().value = "1"
            db.session.commit()
    rows = entries(app, record_type="setting", action="update")[-2:]
    assert [(r.actor, r.via) for r in rows] == [("admin", "task"), ("system", "cli")]


def test_rejected_or_rolled_back_change_leaves_no_entry(world, api, app):
    from models import Unit

    client = api("community1")  # logging in writes its own entry
    before = len(entries(app))
    response = client.post("/api/v1/party_member/", json={"name": "错", "id_card": "123",
                                                                     "area": world["g11"]})
    assert response.status_code == 400
    with app.app_context():
        db.session.add(Unit(name="回滚单位", unit_type="private", area_id=world["c1"]))
        db.session.flush()
        db.session.rollback()
    assert len(entries(app)) == before
    assert not entries(app, summary="回滚单位")


def test_logins_are_audited(world, app, browser):
    browser().login("community1", "wrong-password")
    browser("community2")
    assert entries(app, action="login_failed")[-1].summary == "community1"
    assert entries(app, action="login")[-1].summary == "community2"


def tamper(sql, params=None):
    """Run SQL as a database superuser would, past PostgreSQL's append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text(sql), params or {})
    db.session.commit()


def test_database_refuses_update_delete_truncate_on_postgresql(world, app):
    import pytest
    from sqlalchemy.exc import DBAPIError

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("the database-level guard is PostgreSQL's")
    with app.app_context():
        for sql in ("UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
                    "TRUNCATE audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(sql))
            db.session.rollback()
        assert verify_chain(db.session.connection())[1] is None


def test_chain_verifies_and_detects_alteration(world, app):
    with app.app_context():
        checked, bad, _reason = verify_chain(db.session.connection())
        assert bad is None and checked > 10
        victim = checked // 2
        tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", {"id": victim})
        assert verify_chain(db.session.connection())[1:] == (victim, "altered")


def test_chain_detects_deletion_and_insertion(world, app):
    with app.app_context():
        checked, _bad, _ = verify_chain(db.session.connection())
        tamper("DELETE FROM audit_log WHERE id = :id", {"id": 5})
        assert verify_chain(db.session.connection())[1:] == (6, "gap")
        row = db.session.execute(text("SELECT * FROM audit_log WHERE id = 4")).mappings().one()
        forged = dict(row, id=5, summary="forged", entry_hash="f" * 64)
        cols = ", ".join(forged)
        tamper(f"INSERT INTO audit_log ({cols}) VALUES ({', '.join(':' + c for c in forged)})", forged)
        assert verify_chain(db.session.connection())[1] == 5


def test_audit_verify_command(world, app):
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])
    assert result.exit_code == 0 and "OK" in result.output
    with app.app_context():
        tamper("UPDATE audit_log SET summary = 'x' WHERE id = 3")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])
    assert result.exit_code == 1 and "3" in result.output


def test_nobody_can_write_audit_entries_through_api_or_screen(world, api, browser):
    for username in ("admin", "auditor", "security", "orgdept"):
        client = api(username)
        assert client.post("/api/v1/audit_log/", json={"action": "x"}).status_code in (403, 404, 405)
        assert client.delete("/api/v1/audit_log/1").status_code in (403, 404, 405)
        assert client.put("/api/v1/audit_log/1", json={"action": "x"}).status_code in (403, 404, 405)
    auditor = browser("auditor")
    assert auditor.get("/auditlogview/list/").status_code == 200
    assert auditor.get("/auditlogview/edit/1").status_code in (302, 403, 404)
    assert auditor.get("/auditlogview/add").status_code in (302, 403, 404)


def test_permission_refusals_are_audited(world, api, browser, app):
    assert api("community1").get("/api/v1/audit_log/").status_code == 403
    assert browser("community1").get("/auditlogview/list/").status_code == 403
    rows = entries(app, action="denied")
    assert [(r.actor, r.summary) for r in rows] == [("community1", "GET /api/v1/audit_log/"),
                                                    ("community1", "GET /auditlogview/list/")]
    assert {r.via for r in rows} == {"api", "web"}


def test_chain_detects_reordering(world, app):
    with app.app_context():
        tamper("UPDATE audit_log SET id = -1 WHERE id = 3")
        tamper("UPDATE audit_log SET id = 3 WHERE id = 4")
        tamper("UPDATE audit_log SET id = 4 WHERE id = -1")
        assert verify_chain(db.session.connection())[1] == 3


def test_logout_and_account_changes_are_audited(world, app, browser):
    user = browser("community2")
    user.get("/logout/")
    logout = entries(app, action="logout")[-1]
    assert logout.actor == "community2" and logout.summary == "community2"
    login = entries(app, action="login", summary="community2")[-1]
    assert login.actor == "community2"
    with app.app_context():
        sm = app.appbuilder.sm
        with acting_as(sm.find_user(username="security"), via="web"):
            account = sm.find_user(username="street1")
            account.roles = account.roles + [sm.find_role("Auditor")]
            account.email = "street1-new@example.cn"
            db.session.commit()
            account.roles = [r for r in account.roles if r.name != "Auditor"]
            db.session.commit()
    rows = entries(app, record_type="ab_user", action="update")[-2:]
    first = json.loads(rows[0].changes)
    assert rows[0].actor == "security"
    assert first["roles"] == [[], ["Auditor"]] and first["email"][1] == "street1-new@example.cn"
    assert "password" not in first and "last_login" not in first
    assert json.loads(rows[1].changes)["roles"] == [["Auditor"], []]


def test_meeting_units_change_is_audited(world, app, api):
    client = api("community1")
    response = client.put(f"/api/v1/meeting/{world['meeting1']}", json={"units": [world["unit1"]], "place": "活动室"})
    assert response.status_code == 200, response.json
    response = client.put(f"/api/v1/meeting/{world['meeting1']}", json={"units": []})
    row = entries(app, record_type="meeting", action="update")[-1]
    assert json.loads(row.changes)["units"] == [["天山区市场监督管理局"], []]


def test_record_page_shows_its_change_history_to_auditors_only(world, api, browser, app):
    client = api("community1")
    client.put(f"/api/v1/party_member/{world['m1']}", json={"skills": "心理疏导"})
    page = browser("auditor").get(f"/partymemberview/show/{world['m1']}").get_data(as_text=True)
    assert 'id="audit-history"' in page and "修改记录" in page
    assert "心理疏导" in page and "community1" in page
    assert "特长" in page  # the field's label, not its column name
    page = browser("community1").get(f"/partymemberview/show/{world['m1']}").get_data(as_text=True)
    assert 'id="audit-history"' not in page


def test_audit_screen_shows_shanghai_time_and_readable_diff(world, api, browser, app):
    api("community1").put(f"/api/v1/party_member/{world['m1']}", json={"skills": "理发"})
    row = entries(app, record_type="party_member", action="update")[-1]
    page = browser("auditor").get(f"/auditlogview/show/{row.id}").get_data(as_text=True)
    from datetime import timedelta

    assert (row.at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in page
    assert 'class="table table-condensed audit-diff"' in page and "→ 理发" in page
    listing = browser("auditor").get("/auditlogview/list/?_flt_0_actor=community1").get_data(as_text=True)
    assert "修改" in listing and "在职党员" in listing  # action and record type as words


def test_parallel_writers_keep_one_unbroken_chain(world, app, tmp_path):
    """Four processes (like web workers and Celery workers) write at once: every change has its
    entry and the chain still verifies. Run on both backends; the issue asks for PostgreSQL."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from models import AuditLog
    from tests.audit_writer import write_records

    before = len(entries(app))
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(write_records, url, str(tmp_path / f"w{n}"), 15, n, world["c1"]) for n in range(4)]
        assert sum(f.result(timeout=300) for f in futures) == 60
    with app.app_context():
        assert db.session.query(AuditLog).count() == before + 120  # a create and an update each
        checked, bad, reason = verify_chain(db.session.connection())
        assert bad is None, reason
        assert checked == before + 120


def test_archive_seals_and_prunes_old_entries_and_chain_still_verifies(world, app, tmp_path):
    from datetime import datetime, timedelta

    from app.core.audit_chain import verify_archive
    from models import AuditLog, AuditSeal

    with app.app_context():
        total = db.session.query(AuditLog).count()
        old = datetime.utcnow() - timedelta(days=400)
        # Age the first ten entries (as a DBA would for the test); their hashes cover `at`, so
        # re-chain them the way they would have been written then.
        from app.core.audit_chain import GENESIS_HASH, entry_hash

        prev = GENESIS_HASH
        rows = db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id)).mappings().all()
        for row in rows:
            fields = dict(row, at=old.replace(microsecond=0)) if row["id"] <= 10 else dict(row)
            new_hash = entry_hash(prev, fields)
            tamper("UPDATE audit_log SET at = :at, prev_hash = :prev, entry_hash = :hash WHERE id = :id",
                   {"at": fields["at"], "prev": prev, "hash": new_hash, "id": row["id"]})
            prev = new_hash
        assert verify_chain(db.session.connection())[1] is None
    out = tmp_path / "audit-2025.jsonl"
    too_recent = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before",
                                                    datetime.utcnow().strftime("%Y-%m-%d"), "--out", str(out)])
    assert too_recent.exit_code != 0 and "180" in too_recent.output
    cutoff = (datetime.utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", cutoff, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Archived 10 entries" in result.output
    with app.app_context():
        assert db.session.query(AuditLog).count() == total - 10 + 1  # + the archive's own entry
        seal = db.session.query(AuditSeal).one()
        assert verify_archive(out, seal)
        assert verify_chain(db.session.connection())[1] is None
        assert db.session.query(AuditLog).filter_by(action="archive").one().actor == "system"
        # Deleting the first live entry, or editing the archive, is detected.
        tamper("DELETE FROM audit_log WHERE id = 11")
        assert verify_chain(db.session.connection())[1] == 12
    out.write_text(out.read_text().replace("天山区", "地山区"))
    with app.app_context():
        assert not verify_archive(out, db.session.query(AuditSeal).one())
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])
    assert result.exit_code == 1


def test_entries_with_awkward_text_hash_the_same_in_python_and_sql(world, app):
    """On PostgreSQL the server hashes the entry (sha256 over the canonical JSON sent around the
    id): quotes, backslashes, a fake ``"id":null``, newlines, emoji and Chinese must give exactly
    the hash verify_chain computes in Python."""
    from app.core.audit import record_event
    from app.core.audit_chain import entry_hash
    from models import AuditLog

    awkward = 'say "hi" \\ back\\slash "id":null, {"id":1}\n第二行 😀 \u2028 end\\'
    with app.app_context():
        with acting_as(None, via="cli"):
            record_event("note", record_type="unit", record_id='7"', summary=awkward,
                         details={"text": awkward, "id": None, "nested": {"b": [1, 2.5, None], "a": "\\"}})
        rows = db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id.desc()).limit(2)).mappings().all()
        last, before = rows
        assert last["summary"] == awkward and last["prev_hash"] == before["entry_hash"]
        assert last["id"] == before["id"] + 1
        assert last["entry_hash"] == entry_hash(before["entry_hash"], dict(last))
        assert verify_chain(db.session.connection())[1] is None


def test_failed_append_raises_sqlalchemy_error_and_leaves_nothing(world, app):
    """A statement the driver runs for the audit log fails like any other (SQLAlchemy's error
    class), the transaction rolls back whole, and the next write chains on as before."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    from app.core.audit import record_event
    from models import AuditLog, Unit

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("SQLite does not enforce the column lengths that make the insert fail")
    with app.app_context():
        before = db.session.query(AuditLog).count()
        with acting_as(None, via="cli"):
            db.session.add(Unit(name="失败审计单位", unit_type="private", area_id=world["c1"]))
            db.session.flush()
            with pytest.raises(DBAPIError):
                record_event("note", record_type="x" * 100)
            db.session.rollback()
            assert db.session.query(AuditLog).count() == before
            assert db.session.query(Unit).filter_by(name="失败审计单位").count() == 0
            record_event("note", summary="after the failure")
        assert db.session.query(AuditLog).count() == before + 1
        assert verify_chain(db.session.connection())[1] is None


def test_postgresql_append_function_takes_the_same_lock_as_the_application(world, app):
    """Migration 0010's function and app/core/audit_chain.py (archive) must serialise on ONE advisory lock."""
    import pytest

    from app.core.audit_chain import ADVISORY_LOCK_KEY

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("the append function is PostgreSQL's")
    with app.app_context():
        source = db.session.execute(text("SELECT pg_get_functiondef('gongjian_audit_append'::regproc)")).scalar()
    assert f"pg_advisory_xact_lock({ADVISORY_LOCK_KEY})" in source


def test_audit_registries_name_existing_tables_and_columns():
    """The tables and columns the audit rules name exist (a renamed table cannot silently fall out
    of a rule), and every table of the models package is either a business record (audited) or
    listed in ``NEVER_AUDITED`` with its reason."""
    from flask_appbuilder import Model

    from app.core.audit import AUDITED_SECURITY_TABLES, NEVER_AUDITED, SKIPPED_BY_TABLE, is_audited
    from models import BusinessModel

    tables = Model.metadata.tables
    assert AUDITED_SECURITY_TABLES | NEVER_AUDITED | set(SKIPPED_BY_TABLE) <= set(tables)
    for table, columns in SKIPPED_BY_TABLE.items():
        assert columns <= set(tables[table].c.keys())
    ours = [mapper.class_ for mapper in Model.registry.mappers if mapper.class_.__module__.startswith("models.")]
    for model in ours:
        assert issubclass(model, BusinessModel) != (model.__tablename__ in NEVER_AUDITED), model
        assert is_audited(model) == issubclass(model, BusinessModel), model
    assert {model.__tablename__ for model in ours} >= NEVER_AUDITED
