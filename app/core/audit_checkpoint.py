"""Checkpoints of the audit chain's head, kept outside the database.

The keyed chain (app/core/audit_chain.py) shows any entry changed, slipped in or removed from the
middle, but not a cut tail: the entries that remain still verify. So, at a short interval (beat's
``tasks.maintenance.audit_checkpoint``, and ``gongjian audit checkpoint``), the head of the chain
— the last entry's id and link — is appended to a checkpoint file in the data directory
(``AUDIT_CHECKPOINT_FILE``, JSON lines, opened for appending only). Each line carries a MAC under
the audit key, chained on the line before, so the file's lines can neither be forged nor edited
without the key. :func:`verify_checkpoints` compares the file with the database: an entry a
checkpoint saw that is now missing is a cut tail (or a rewritten one, when its link differs).

A cut shorter than the interval since the last checkpoint goes unseen; the README's threat model
says so. Audit exports carry a copy of the file's lines (app/exports/running.py).
"""
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from app.core import audit_keys
from app.core.audit_chain import verify_chain
from app.core.calendar import utcnow
from models import AuditLog, AuditSeal

__all__ = ["CheckpointFault", "LogVerdict", "checkpoint_path", "read_checkpoints", "verify_checkpoints", "verify_log",
           "write_checkpoint"]

GENESIS_MAC = "0" * 64
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
SIGNED_FIELDS = ("n", "at", "last_id", "last_hash", "key_id", "prev_mac")


@dataclass(frozen=True)
class CheckpointFault:
    """What is wrong: ``entry_id`` the first entry found bad or missing (None for a fault of the
    file itself, then ``line`` is its line number), and ``reason``."""

    entry_id: int | None
    reason: str
    line: int | None = None


def checkpoint_path(config=None):
    config = config if config is not None else current_app.config
    return config.get("AUDIT_CHECKPOINT_FILE") or os.path.join(config["DATA_DIR"], "audit-checkpoints.jsonl")


def _mac(fields, ring):
    key = ring.key(fields.get("key_id"))
    if key is None:
        return None
    message = _CANONICAL_JSON.encode({name: fields.get(name) for name in SIGNED_FIELDS}).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def read_checkpoints(path=None):
    """The file's checkpoints in order (an empty list when there is no file yet). A line that is
    not JSON comes back as None, so the verification names it."""
    path = path or checkpoint_path()
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [_parse(line) for line in handle if line.strip()]


def _parse(line):
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _chain_head(connection):
    """(last entry id, its link) of the live chain, or of the last archive seal when the live
    chain is empty; None when nothing was ever logged."""
    last = connection.execute(select(AuditLog.id, AuditLog.entry_hash).order_by(AuditLog.id.desc()).limit(1)).first()
    if last is not None:
        return last.id, last.entry_hash
    seal = connection.execute(
        select(AuditSeal.last_id, AuditSeal.last_hash).order_by(AuditSeal.last_id.desc()).limit(1)).first()
    return (seal.last_id, seal.last_hash) if seal is not None else None


def write_checkpoint(connection, path=None):
    """Append the chain's head to the checkpoint file unless the last line already holds it.
    Returns the new checkpoint, or None. The file is locked while its tail is read and the line
    appended (beat and the command line may both write)."""
    head = _chain_head(connection)
    if head is None:
        return None
    path = path or checkpoint_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ring = audit_keys.keyring()
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = [line for line in handle.read().splitlines() if line.strip()]
        last = _parse(lines[-1]) if lines else None
        if last is not None and (last.get("last_id"), last.get("last_hash")) == head:
            return None
        fields = {
            "n": len(lines) + 1, "at": utcnow().replace(microsecond=0).isoformat(), "last_id": head[0],
            "last_hash": head[1], "key_id": ring.current_id,
            "prev_mac": (last or {}).get("mac") or GENESIS_MAC,
        }
        fields["mac"] = _mac(fields, ring)
        handle.write(_CANONICAL_JSON.encode(fields) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return fields


def _file_fault(checkpoints, ring):
    """The first line of the file that is malformed, forged, edited or out of its chain."""
    prev_mac, prev_id = GENESIS_MAC, 0
    for number, checkpoint in enumerate(checkpoints, start=1):
        if checkpoint is None or not isinstance(checkpoint.get("last_id"), int):
            return CheckpointFault(None, "checkpoint unreadable", number)
        if checkpoint.get("n") != number or checkpoint.get("prev_mac") != prev_mac:
            return CheckpointFault(None, "checkpoint out of order", number)
        expected = _mac(checkpoint, ring)
        if expected is None:
            return CheckpointFault(None, "checkpoint unknown key", number)
        if not hmac.compare_digest(expected, str(checkpoint.get("mac"))):
            return CheckpointFault(None, "checkpoint altered", number)
        if checkpoint["last_id"] < prev_id:
            return CheckpointFault(None, "checkpoint out of order", number)
        prev_mac, prev_id = checkpoint["mac"], checkpoint["last_id"]
    return None


def _log_fault(connection, checkpoints):
    """The first entry a checkpoint saw that the database no longer holds as it was."""
    live_last = connection.execute(select(func.max(AuditLog.id))).scalar()
    archived_last = connection.execute(select(func.max(AuditSeal.last_id))).scalar() or 0
    head = max(live_last or 0, archived_last)
    newest = checkpoints[-1]
    if newest["last_id"] > head:
        return CheckpointFault(head + 1, "truncated")
    wanted = {c["last_id"]: c["last_hash"] for c in checkpoints if c["last_id"] > archived_last}
    found = {}
    ids = sorted(wanted)
    for start in range(0, len(ids), 1000):
        found.update(connection.execute(select(AuditLog.id, AuditLog.entry_hash)
                                        .where(AuditLog.id.in_(ids[start:start + 1000]))).tuples().all())
    for entry_id in ids:
        if entry_id not in found:
            return CheckpointFault(entry_id, "deleted")
        if found[entry_id] != wanted[entry_id]:
            return CheckpointFault(entry_id, "rewritten")
    return None


def verify_checkpoints(connection, path=None):
    """(number of checkpoints, first fault or None): the file's own chain of MACs, then every
    checkpoint against the live log (entries since archived are the archive's to verify)."""
    checkpoints = read_checkpoints(path)
    if not checkpoints:
        return 0, None
    ring = audit_keys.keyring()
    fault = _file_fault(checkpoints, ring)
    if fault is None:
        fault = _log_fault(connection, checkpoints)
    return len(checkpoints), fault


@dataclass(frozen=True)
class LogVerdict:
    """The whole log's verification: the chain, then the checkpoints."""

    checked: int
    bad_id: int | None
    reason: str | None
    checkpoints: int

    @property
    def ok(self):
        return self.reason is None


def verify_log(connection, path=None):
    """Walk the keyed chain (app/core/audit_chain.py), then hold the checkpoints against it."""
    checked, bad_id, reason = verify_chain(connection)
    count, fault = verify_checkpoints(connection, path)
    if reason is None and fault is not None:
        bad_id = fault.entry_id
        reason = fault.reason if fault.line is None else f"{fault.reason} (line {fault.line})"
    return LogVerdict(checked, bad_id, reason, count)
