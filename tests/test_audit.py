"""The audit log: every write from every path leaves an entry, rollbacks leave none, and the hash
chain exposes tampering."""
import json
import re

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

    # Settings outlive the test (tests/factories.py KEPT_TABLES): the value is put back at the end.
    with app.app_context():
        original = db.session.query(Setting).filter_by(key="points_per_hour").one().value
        try:
            user = app.appbuilder.sm.find_user(username="admin")
            with acting_as(user, via="task"):
                db.session.query(Setting).filter_by(key="points_per_hour").one().value = original + "0"
                db.session.commit()
            with acting_as(None, via="cli"):
                db.session.query(Setting).filter_by(key="points_per_hour").one().value = original
                db.session.commit()
        finally:
            db.session.rollback()
            with acting_as(None, via="test"):
                db.session.query(Setting).filter_by(key="points_per_hour").one().value = original
                db.session.commit()
    rows = entries(app, record_type="setting", action="update")[-2:]
    assert [(r.actor, r.via) for r in rows] == [("admin", "task"), ("system", "cli")]
    assert [json.loads(r.changes)["value"] for r in rows] == [[original, original + "0"], [original + "0", original]]


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
    first = audit_ids(app)[0]
    with app.app_context():
        for sql in (f"UPDATE audit_log SET actor = 'x' WHERE id = {first}",
                    f"DELETE FROM audit_log WHERE id = {first}", "TRUNCATE audit_log"):
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


def audit_ids(app):
    """The ids of the audit log's entries, in order: a test names entries by position, never by a
    hard-coded id (the log's ids go on from wherever the previous test left them)."""
    with app.app_context():
        ids = db.session.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
        db.session.remove()
    return ids


def test_chain_detects_deletion_and_insertion(world, app):
    ids = audit_ids(app)
    with app.app_context():
        checked, _bad, _ = verify_chain(db.session.connection())
        tamper("DELETE FROM audit_log WHERE id = :id", {"id": ids[4]})
        assert verify_chain(db.session.connection())[1:] == (ids[5], "gap")
        row = db.session.execute(text("SELECT * FROM audit_log WHERE id = :id"), {"id": ids[3]}).mappings().one()
        forged = dict(row, id=ids[4], summary="forged", entry_hash="f" * 64)
        cols = ", ".join(forged)
        tamper(f"INSERT INTO audit_log ({cols}) VALUES ({', '.join(':' + c for c in forged)})", forged)
        assert verify_chain(db.session.connection())[1] == ids[4]


def test_audit_verify_command(world, app):
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])
    assert result.exit_code == 0 and "OK" in result.output
    victim = audit_ids(app)[2]
    with app.app_context():
        tamper("UPDATE audit_log SET summary = 'x' WHERE id = :id", {"id": victim})
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])
    assert result.exit_code == 1 and str(victim) in result.output


def test_nobody_can_write_audit_entries_through_api_or_screen(world, api, browser, app):
    from tests.factories import unchanged

    first = audit_ids(app)[0]
    with app.app_context():
        kept = dict(db.session.execute(text("SELECT * FROM audit_log WHERE id = :id"), {"id": first}).mappings().one())
        db.session.remove()
    for username in ("admin", "auditor", "security", "orgdept"):
        client = api(username)
        with unchanged(app):
            assert client.post("/api/v1/audit_log/", json={"action": "x"}).status_code in (403, 404, 405)
            assert client.delete(f"/api/v1/audit_log/{first}").status_code in (403, 404, 405)
            assert client.put(f"/api/v1/audit_log/{first}", json={"action": "x"}).status_code in (403, 404, 405)
    assert not entries(app, action="x")
    with app.app_context():
        assert dict(db.session.execute(text("SELECT * FROM audit_log WHERE id = :id"),
                                       {"id": first}).mappings().one()) == kept
        assert verify_chain(db.session.connection())[1] is None
    auditor = browser("auditor")
    assert auditor.get("/auditlogview/list/").status_code == 200
    assert auditor.get(f"/auditlogview/edit/{first}").status_code in (302, 403, 404)
    assert auditor.get("/auditlogview/add").status_code in (302, 403, 404)


def test_permission_refusals_are_audited(world, api, browser, app):
    assert api("community1").get("/api/v1/audit_log/").status_code == 403
    assert browser("community1").get("/auditlogview/list/").status_code == 403
    rows = entries(app, action="denied")
    assert [(r.actor, r.summary) for r in rows] == [("community1", "GET /api/v1/audit_log/"),
                                                    ("community1", "GET /auditlogview/list/")]
    assert {r.via for r in rows} == {"api", "web"}


def test_chain_detects_reordering(world, app):
    ids = audit_ids(app)
    third, fourth = ids[2], ids[3]
    with app.app_context():
        tamper("UPDATE audit_log SET id = -1 WHERE id = :id", {"id": third})
        tamper("UPDATE audit_log SET id = :to WHERE id = :id", {"to": third, "id": fourth})
        tamper("UPDATE audit_log SET id = :to WHERE id = -1", {"to": fourth})
        assert verify_chain(db.session.connection())[1] == third


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
            email = account.email
            try:
                account.roles = account.roles + [sm.find_role("OrgDept")]
                account.email = "street1-new@example.cn"
                db.session.commit()
                account.roles = [r for r in account.roles if r.name != "OrgDept"]
                db.session.commit()
                rows = entries(app, record_type="ab_user", action="update")[-2:]
            finally:  # the users outlive the test: put the address back
                db.session.rollback()
                account = sm.find_user(username="street1")
                account.roles = [r for r in account.roles if r.name != "OrgDept"]
                account.email = email
                db.session.commit()
    first = json.loads(rows[0].changes)
    assert rows[0].actor == "security"
    assert first["roles"] == [[], ["OrgDept"]] and first["email"][1] == "street1-new@example.cn"
    assert "password" not in first and "last_login" not in first
    assert json.loads(rows[1].changes)["roles"] == [["OrgDept"], []]


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

    ids = audit_ids(app)
    with app.app_context():
        total = db.session.query(AuditLog).count()
        old = datetime.utcnow() - timedelta(days=400)
        # Age the first ten entries (as a DBA would for the test); their hashes cover `at`, so
        # re-chain them the way they would have been written then.
        from app.core.audit_chain import GENESIS_HASH, entry_hash

        prev = GENESIS_HASH
        rows = db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id)).mappings().all()
        for row in rows:
            fields = dict(row, at=old.replace(microsecond=0)) if row["id"] <= ids[9] else dict(row)
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
        tamper("DELETE FROM audit_log WHERE id = :id", {"id": ids[10]})
        assert verify_chain(db.session.connection())[1] == ids[11]
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


def test_postgresql_tail_function_takes_the_same_lock_as_the_application(world, app):
    """Migration 0017's function (every append) and app/core/audit_chain.py (archive) must
    serialise on ONE advisory lock."""
    import pytest

    from app.core.audit_chain import ADVISORY_LOCK_KEY

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("the tail function is PostgreSQL's")
    with app.app_context():
        source = db.session.execute(text("SELECT pg_get_functiondef('gongjian_audit_tail'::regproc)")).scalar()
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


# ---- the chain's rules a one-word slip would break silently (issue 20) ------------------------
def age_first_entries(app, count):
    """Age the first ``count`` entries 400 days and re-chain the log the way it would have been
    written then (as in the archive test above); returns the ids of the log."""
    from datetime import datetime, timedelta

    from app.core.audit_chain import GENESIS_HASH, entry_hash
    from models import AuditLog

    ids = audit_ids(app)
    with app.app_context():
        old = (datetime.utcnow() - timedelta(days=400)).replace(microsecond=0)
        prev = GENESIS_HASH
        rows = db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id)).mappings().all()
        for row in rows:
            fields = dict(row, at=old) if row["id"] <= ids[count - 1] else dict(row)
            new_hash = entry_hash(prev, fields)
            tamper("UPDATE audit_log SET at = :at, prev_hash = :prev, entry_hash = :hash WHERE id = :id",
                   {"at": fields["at"], "prev": prev, "hash": new_hash, "id": row["id"]})
            prev = new_hash
        assert verify_chain(db.session.connection())[1] is None
    return ids


def test_an_entrys_hash_covers_the_previous_entrys_hash(world, app):
    """The same entry after two different predecessors hashes differently, so an entry rewritten
    with a fresh hash of its own is still caught at the entry after it."""
    from app.core.audit_chain import GENESIS_HASH, entry_hash
    from models import AuditLog

    fields = {"id": 7, "at": "2026-01-01T00:00:00", "actor": "community1", "action": "update"}
    assert entry_hash(GENESIS_HASH, fields) != entry_hash("f" * 64, fields)
    ids = audit_ids(app)
    victim, successor = ids[len(ids) // 2], ids[len(ids) // 2 + 1]
    with app.app_context():
        row = db.session.execute(select(AuditLog.__table__).where(AuditLog.id == victim)).mappings().one()
        forged = dict(row, summary="mallory was never here")
        forged_hash = entry_hash(row["prev_hash"], forged)
        # A forger rewrites the entry, rehashes it and relinks its successor to the new hash.
        tamper("UPDATE audit_log SET summary = :summary, entry_hash = :hash WHERE id = :id",
               {"summary": forged["summary"], "hash": forged_hash, "id": victim})
        tamper("UPDATE audit_log SET prev_hash = :hash WHERE id = :id", {"hash": forged_hash, "id": successor})
        assert verify_chain(db.session.connection())[1:] == (successor, "altered")
    assert app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"]).exit_code == 1


def test_archive_of_a_broken_chain_is_refused_writes_no_file_and_deletes_nothing(world, app, tmp_path):
    from datetime import datetime, timedelta

    from models import AuditLog, AuditSeal

    ids = age_first_entries(app, 10)
    with app.app_context():
        tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", {"id": ids[5]})  # inside the old part
        assert verify_chain(db.session.connection())[1:] == (ids[5], "altered")
        before = db.session.execute(select(AuditLog.id, AuditLog.entry_hash).order_by(AuditLog.id)).all()
    out = tmp_path / "archive" / "audit-old.jsonl"
    cutoff = (datetime.utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", cutoff, "--out", str(out)])
    assert result.exit_code != 0, result.output
    assert str(ids[5]) in result.output
    assert not out.exists()
    assert not (tmp_path / "archive").exists() or list((tmp_path / "archive").iterdir()) == []
    with app.app_context():
        after = db.session.execute(select(AuditLog.id, AuditLog.entry_hash).order_by(AuditLog.id)).all()
        assert after[:len(before)] == before  # nothing deleted, nothing rewritten
        assert db.session.query(AuditLog).filter_by(action="archive").count() == 0
        assert db.session.query(AuditSeal).count() == 0


def test_archive_verification_checks_every_link_and_the_seals_last_entry(world, app, tmp_path):
    """An archive file verifies only if its SHA-256, every link inside it, AND the seal's last id
    and last hash all agree: a file rewritten together with its digest is still caught."""
    import hashlib

    from app.core.audit_chain import entry_hash, jsonable, verify_archive
    from models import AuditLog, AuditSeal

    with app.app_context():
        rows = [dict(r) for r in db.session.execute(
            select(AuditLog.__table__).order_by(AuditLog.id).limit(12)).mappings()]
        assert len(rows) == 12

        def write(name, entries):
            path = tmp_path / name
            data = b"".join((json.dumps({k: jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True)
                             + "\n").encode("utf-8") for row in entries)
            path.write_bytes(data)
            return path, hashlib.sha256(data).hexdigest()

        def seal(digest, last_id=rows[-1]["id"], last_hash=rows[-1]["entry_hash"]):
            return AuditSeal(first_id=rows[0]["id"], last_id=last_id, last_hash=last_hash, entry_count=12,
                             file_name="x.jsonl", file_sha256=digest)

        good, digest = write("good.jsonl", rows)
        assert verify_archive(good, seal(digest))
        # The seal's last id and last hash are checked, not only the file's digest.
        assert not verify_archive(good, seal(digest, last_id=rows[-1]["id"] + 1))
        assert not verify_archive(good, seal(digest, last_hash="0" * 64))
        # A line removed (a gap), a line altered, a line rehashed: each with a matching digest.
        gap, gap_digest = write("gap.jsonl", rows[:5] + rows[6:])
        assert not verify_archive(gap, seal(gap_digest))
        altered = [dict(row) for row in rows]
        altered[5]["summary"] = "mallory"
        path, altered_digest = write("altered.jsonl", altered)
        assert not verify_archive(path, seal(altered_digest))
        altered[5]["entry_hash"] = entry_hash(altered[5]["prev_hash"], altered[5])
        path, relinked_digest = write("rehashed.jsonl", altered)
        assert not verify_archive(path, seal(relinked_digest))


def test_the_archive_holds_the_chain_lock_while_it_verifies_and_reads_the_last_entry(world, app, tmp_path,
                                                                                   monkeypatch):
    """On PostgreSQL no writer may append between the archive's check of the chain and its seal:
    while it verifies, another connection cannot take the chain's advisory lock (the lock every
    append takes, see the test above)."""
    from datetime import datetime, timedelta

    import pytest

    import app.core.audit_chain as chain

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("SQLite's single write lock serialises writers; the advisory lock is PostgreSQL's")
    age_first_entries(app, 10)
    seen = []
    real_verify = chain.verify_chain

    def verify_while_probing(connection, *args, **kwargs):
        with db.engine.connect() as other:
            seen.append(other.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                      {"key": chain.ADVISORY_LOCK_KEY}).scalar())
            other.rollback()
        return real_verify(connection, *args, **kwargs)

    monkeypatch.setattr(chain, "verify_chain", verify_while_probing)
    cutoff = (datetime.utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    out = tmp_path / "audit-old.jsonl"
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", cutoff, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert seen == [False]
    with app.app_context():
        assert real_verify(db.session.connection())[1] is None


def test_the_archive_file_and_its_log_entry_say_exactly_what_was_archived(world, app, tmp_path):
    """What an auditor checks an archive against: the file holds the archived entries in order,
    one canonical JSON object a line (keys sorted, Chinese as written), written whole (no temporary
    file left beside it); the seal and the log's own "archive" entry name the first and last entry
    archived, how many, the file and its SHA-256."""
    import hashlib
    from datetime import datetime, timedelta

    from models import AuditLog, AuditSeal

    ids = age_first_entries(app, 10)
    out = tmp_path / "archive" / "audit-old.jsonl"
    cutoff = (datetime.utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", cutoff, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [path.name for path in out.parent.iterdir()] == [out.name]
    lines = out.read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == ids[:10]
    assert lines == [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    assert "天山区" in out.read_text("utf-8") and "\\u" not in out.read_text("utf-8")
    sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
    with app.app_context():
        seal = db.session.query(AuditSeal).one()
        assert (seal.first_id, seal.last_id, seal.entry_count, seal.file_name, seal.file_sha256) == \
            (ids[0], ids[9], 10, out.name, sha256)
        entry = db.session.query(AuditLog).filter_by(action="archive").one()
        assert (entry.record_type, entry.record_id, entry.summary) == ("audit_log", str(ids[9]),
                                                                       f"10 entries to {out.name}")
        assert json.loads(entry.changes) == {"first_id": ids[0], "last_id": ids[9], "sha256": sha256}
        db.session.remove()


def test_archive_refusals_name_what_is_wrong(world, app, tmp_path):
    """A cut-off inside the retention period names ``before`` and the days kept; a broken chain
    names ``chain``, the first bad entry and why."""
    from datetime import datetime, timedelta

    ids = age_first_entries(app, 10)
    out = tmp_path / "audit-old.jsonl"
    recent = (datetime.utcnow() - timedelta(days=30)).strftime("%Y-%m-%d")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", recent, "--out", str(out)])
    assert result.exit_code != 0 and "before: " in result.output and "180" in result.output
    with app.app_context():
        tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", {"id": ids[3]})
    cutoff = (datetime.utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "archive", "--before", cutoff, "--out", str(out)])
    assert result.exit_code != 0
    assert re.search(rf"chain: .*\b{ids[3]}\b.*altered", result.output), result.output


def test_an_event_entry_keeps_what_it_was_told_exactly(world, app):
    """An event (login, export, reveal, refusal…) is one entry with its record, area, summary
    (at most 300 characters) and details as canonical JSON (keys sorted, Chinese as written)."""
    from app.core.audit import record_event
    from models import AuditLog

    with app.app_context():
        with acting_as(app.appbuilder.sm.find_user(username="community1"), via="web"):
            record_event("export", "party_member", 42, summary="导出" * 200, details={"行数": 3, "a": 1},
                         area_id=world["c1"])
            record_event("denied")
        first, second = db.session.query(AuditLog).order_by(AuditLog.id.desc()).limit(2).all()[::-1]
        assert (first.action, first.record_type, first.record_id, first.area_id, first.actor) == \
            ("export", "party_member", "42", world["c1"], "community1")
        assert first.summary == ("导出" * 200)[:300]
        assert first.changes == '{"a": 1, "行数": 3}'
        assert (second.action, second.record_type, second.record_id, second.summary, second.changes) == \
            ("denied", None, None, "", "{}")
        assert verify_chain(db.session.connection())[1] is None
        db.session.remove()
