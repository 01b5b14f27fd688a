"""The audit log cannot be cut short or rewritten unnoticed by someone who holds the database but
not the key (issue 14): entries chained with a keyed MAC (app/core/audit_keys.py,
app/core/audit_chain.py) and the chain's head sealed in a checkpoint file outside the database
(app/core/audit_checkpoint.py). Each attack below tampers with the real SQLite or PostgreSQL
database the way such a person would — delete the tail, delete or slip in an entry in the
middle, edit one and recompute an unkeyed SHA-256 chain — and ``audit verify`` must fail, naming
the first bad entry."""
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.core import audit_keys
from app.core.audit import record_event
from app.core.audit_chain import GENESIS_HASH, _canonical, verify_chain
from app.core.audit_checkpoint import checkpoint_path, read_checkpoints, verify_log, write_checkpoint
from app.extensions import db
from models import AuditLog
from tests.conftest import TEST_AUDIT_KEYS, make_app, run_cli

TEST_KEY = bytes.fromhex(TEST_AUDIT_KEYS.split(":")[1])


def tamper(sql, params=None):
    """Run SQL as a database superuser would, past PostgreSQL's append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text(sql), params or {})
    db.session.commit()


def rows_of_log():
    return [dict(row) for row in db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id)).mappings()]


def unkeyed_hash(prev_hash, fields):
    """What a forger without the key can compute: the plain SHA-256 of the same text."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def rechain_unkeyed(rows, start, keep_key_id=True):
    """Rewrite every entry from position ``start`` on with links a forger can compute."""
    prev = rows[start - 1]["entry_hash"] if start else GENESIS_HASH
    for row in rows[start:]:
        fields = dict(row) if keep_key_id else dict(row, key_id=None)
        new_hash = unkeyed_hash(prev, fields)
        tamper("UPDATE audit_log SET key_id = :key_id, prev_hash = :prev, entry_hash = :hash, summary = :summary "
               "WHERE id = :id", {"key_id": fields["key_id"], "prev": prev, "hash": new_hash,
                                  "summary": fields["summary"], "id": row["id"]})
        prev = new_hash


def verify_command(app):
    return app.test_cli_runner().invoke(args=["gongjian", "audit", "verify"])


def some_events(count=6):
    for number in range(count):
        record_event("test_event", "test", number, summary=f"event {number}")


def test_entries_carry_the_key_id_and_a_mac_under_that_key(world, app):
    with app.app_context():
        some_events(2)
        rows = rows_of_log()
        assert rows and all(row["key_id"] == "t1" for row in rows)
        last = rows[-1]
        message = (last["prev_hash"] + _canonical(last)).encode("utf-8")
        assert last["entry_hash"] == hmac.new(TEST_KEY, message, hashlib.sha256).hexdigest()
        assert last["entry_hash"] != unkeyed_hash(last["prev_hash"], last)
        assert verify_log(db.session.connection()).ok


def test_an_entry_edited_and_the_chain_recomputed_without_the_key_is_caught(world, app):
    with app.app_context():
        some_events()
        rows = rows_of_log()
        victim = len(rows) // 2
        rows[victim]["summary"] = "mallory was never here"
        rechain_unkeyed(rows, victim)
        assert verify_chain(db.session.connection())[1:] == (rows[victim]["id"], "altered")
    result = verify_command(app)
    assert result.exit_code == 1 and f"entry {rows[victim]['id']}" in result.output


def test_an_entry_deleted_in_the_middle_and_the_rest_renumbered_is_caught(world, app):
    with app.app_context():
        some_events()
        rows = rows_of_log()
        victim = len(rows) // 2
        tamper("DELETE FROM audit_log WHERE id >= :id", {"id": rows[victim]["id"]})
        shifted = [dict(row, id=row["id"] - 1) for row in rows[victim + 1:]]
        prev = rows[victim - 1]["entry_hash"]
        for row in shifted:  # renumbered, relinked and rehashed as far as a forger can
            row["prev_hash"], row["entry_hash"] = prev, unkeyed_hash(prev, row)
            prev = row["entry_hash"]
            tamper(f"INSERT INTO audit_log ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row)
        assert verify_chain(db.session.connection())[1:] == (rows[victim]["id"], "altered")


def test_an_entry_slipped_in_is_caught(world, app):
    with app.app_context():
        some_events()
        rows = rows_of_log()
        position = len(rows) // 2
        tamper("DELETE FROM audit_log WHERE id >= :id", {"id": rows[position]["id"]})
        forged = dict(rows[position - 1], id=rows[position]["id"], summary="a login that never happened",
                      prev_hash=rows[position - 1]["entry_hash"])
        forged["entry_hash"] = unkeyed_hash(forged["prev_hash"], forged)
        tamper(f"INSERT INTO audit_log ({', '.join(forged)}) VALUES ({', '.join(':' + c for c in forged)})", forged)
        assert verify_chain(db.session.connection())[1:] == (forged["id"], "altered")


def test_a_chain_rewritten_as_entries_from_before_the_key_is_caught(world, app):
    """Entries from before migration 0017 carry no key; one after a keyed entry cannot be genuine,
    and a log rewritten wholly as unkeyed entries no longer matches the checkpoints."""
    with app.app_context():
        some_events()
        rows = rows_of_log()
        rechain_unkeyed(rows, len(rows) - 2, keep_key_id=False)
        assert verify_chain(db.session.connection())[1:] == (rows[-2]["id"], "unkeyed")
        rows = rows_of_log()
        write_checkpoint(db.session.connection())
        rechain_unkeyed(rows_of_log(), 0, keep_key_id=False)  # every entry "from before the key"
        assert verify_chain(db.session.connection())[1] is None  # the chain alone cannot tell
        verdict = verify_log(db.session.connection())
        assert (verdict.bad_id, verdict.reason) == (rows[-1]["id"], "rewritten")


def test_a_cut_tail_is_caught_by_the_checkpoint_and_named(world, app):
    with app.app_context():
        some_events()
        written = write_checkpoint(db.session.connection())
        db.session.rollback()
        rows = rows_of_log()
        assert written["last_id"] == rows[-1]["id"]
        assert write_checkpoint(db.session.connection()) is None  # nothing new: no line
        first_cut = rows[-3]["id"]
        tamper("DELETE FROM audit_log WHERE id >= :id", {"id": first_cut})
        assert verify_chain(db.session.connection())[1] is None  # what is left still chains
        verdict = verify_log(db.session.connection())
        assert (verdict.bad_id, verdict.reason) == (first_cut, "truncated")
    result = verify_command(app)
    assert result.exit_code == 1 and f"entry {first_cut}" in result.output and "truncated" in result.output


def test_the_whole_log_emptied_is_caught(world, app):
    with app.app_context():
        some_events()
        write_checkpoint(db.session.connection())
        first = rows_of_log()[0]["id"]
        tamper("DELETE FROM audit_log")
        verdict = verify_log(db.session.connection())
        assert (verdict.bad_id, verdict.reason) == (first, "truncated")


def test_checkpoints_are_chained_and_signed(world, app):
    with app.app_context():
        for _round in range(3):
            some_events(1)
            write_checkpoint(db.session.connection())
        path = checkpoint_path()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3 and verify_log(db.session.connection()).ok

        def verdict_with(new_lines):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(new_lines) + "\n")
            return verify_log(db.session.connection())

        edited = json.loads(lines[2])
        edited["last_id"] += 100  # a forged head, or an edited one
        assert verdict_with(lines[:2] + [json.dumps(edited)]).reason == "checkpoint altered (line 3)"
        assert verdict_with([lines[0], lines[2]]).reason == "checkpoint out of order (line 2)"
        assert verdict_with(lines[:2] + ["not json"]).reason == "checkpoint unreadable (line 3)"
        assert verdict_with(lines).ok


def test_the_beat_task_writes_checkpoints(world, app):
    from app.celery_app import beat_schedule
    from tasks.maintenance import audit_checkpoint

    assert beat_schedule(app.config)["audit-checkpoint"]["schedule"] == float(app.config["AUDIT_CHECKPOINT_SECONDS"])
    with app.app_context():
        some_events(1)
        last_id = rows_of_log()[-1]["id"]
        assert audit_checkpoint.apply().get() == last_id
        assert audit_checkpoint.apply().get() is None
        assert read_checkpoints()[-1]["last_id"] == last_id


def test_the_checkpoint_command_and_verify_report(world, app):
    with app.app_context():
        some_events(1)
    result = app.test_cli_runner().invoke(args=["gongjian", "audit", "checkpoint"])
    assert result.exit_code == 0 and "Checkpoint 1" in result.output
    result = verify_command(app)
    assert result.exit_code == 0 and "1 checkpoints" in result.output


def test_key_file_rotation_and_a_lost_key(tmp_path):
    """Outside production the key file is made on first use (mode 0600); rotate-key adds a key
    that new entries use while older ones verify under theirs; an entry whose key is gone fails."""
    application = make_app(tmp_path, AUDIT_KEYS="")
    run_cli(application, "gongjian", "init")
    key_file = tmp_path / "audit-keys.json"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with application.app_context():
        some_events(2)
        assert {row["key_id"] for row in rows_of_log()} == {"k1"}
    result = run_cli(application, "gongjian", "audit", "rotate-key")
    assert "k2" in result.output
    with application.app_context():
        some_events(2)
        rows = rows_of_log()
        assert rows[-1]["key_id"] == "k2" and rows[0]["key_id"] == "k1"
        assert any(row["action"] == "audit_key_rotated" for row in rows)
        assert verify_log(db.session.connection()).ok
        data = json.loads(key_file.read_text())
        del data["keys"]["k1"]
        key_file.write_text(json.dumps(data))
        assert verify_chain(db.session.connection())[1:] == (rows[0]["id"], "unknown key")
        db.session.remove()
        db.engine.dispose()


def test_two_processes_starting_on_an_empty_data_dir_share_one_key(tmp_path):
    config = {"DATA_DIR": str(tmp_path), "AUDIT_KEYS": "", "GONGJIAN_ENV": "demo"}
    first = audit_keys.keyring(config)
    audit_keys._create_file(str(tmp_path / "audit-keys.json"), audit_keys.KeyRing("k1", {"k1": b"x" * 32}))
    assert audit_keys.keyring(config) == first  # the second writer's key did not replace the first


def test_production_refuses_to_start_without_an_audit_key(tmp_path, monkeypatch):
    from app.factory import ConfigurationError

    monkeypatch.setenv("SECRET_KEY", "z" * 48)
    with pytest.raises(ConfigurationError, match="audit key"):
        make_app(tmp_path, GONGJIAN_ENV="production", AUDIT_KEYS="")
    with pytest.raises(ConfigurationError, match="GONGJIAN_AUDIT_KEYS"):
        make_app(tmp_path, GONGJIAN_ENV="production", AUDIT_KEYS="k1:abcd")  # too short a key
    assert make_app(tmp_path, GONGJIAN_ENV="production", AUDIT_KEYS="k1:" + "ab" * 32) is not None
    assert not (tmp_path / "audit-keys.json").exists()


def test_an_audit_export_carries_the_checkpoints(world, app, tmp_path):
    with app.app_context():
        some_events(1)
        write_checkpoint(db.session.connection())
        line = Path(checkpoint_path()).read_text(encoding="utf-8").strip()
    out = tmp_path / "audit.csv"
    run_cli(app, "gongjian", "export", "audit_log", "--as", "auditor", "--out", str(out))
    content = out.read_text(encoding="utf-8-sig")
    assert "1 个检查点一致" in content  # the verification, in the export's language
    assert json.loads(line)["mac"] in content


def test_keys_from_the_environment_are_parsed_strictly():
    """``id:hex,id:hex``: the last is current, every key is kept, a key under 16 bytes or without
    an id is refused (a short key would make the MAC guessable)."""
    ring = audit_keys._parse_env(" a1:" + "11" * 16 + " , a2:" + "22" * 20 + ",")
    assert ring.current_id == "a2"
    assert ring.keys == {"a1": b"\x11" * 16, "a2": b"\x22" * 20}
    for bad in ("a1:" + "11" * 15, ":" + "11" * 16, "a1:nothex" + "1" * 32, " , "):
        with pytest.raises(audit_keys.AuditKeyError):
            audit_keys._parse_env(bad)


def test_rotation_names_each_new_key_after_the_others(tmp_path):
    config = {"DATA_DIR": str(tmp_path), "AUDIT_KEYS": "", "GONGJIAN_ENV": "demo"}
    assert audit_keys.keyring(config).current_id == "k1"
    assert [audit_keys.rotate(config) for _ in range(3)] == ["k2", "k3", "k4"]
    ring = audit_keys.keyring(config)
    assert ring.current_id == "k4" and set(ring.keys) == {"k1", "k2", "k3", "k4"}
    assert len({bytes(key) for key in ring.keys.values()}) == 4
    assert audit_keys._new_key_id({"k1": b"", "k3": b""}) == "k4"
    with pytest.raises(audit_keys.AuditKeyError):
        audit_keys.rotate({**config, "AUDIT_KEYS": "e1:" + "ab" * 32})
