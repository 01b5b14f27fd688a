"""The audit log: append-only, hash-chained entries written by app/core/audit_chain.py only."""
from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Text

from .base import utcnow


class AuditLog(Model):
    """One entry. ``entry_hash`` = HMAC-SHA256, under the key ``key_id``, of the previous entry's
    ``entry_hash`` and this entry's fields (app/core/audit_chain.py)."""

    __tablename__ = "audit_log"
    # Few indexes: every write of the application appends here (record_type alone uses the
    # composite index's prefix).
    __table_args__ = (Index("ix_audit_log_record", "record_type", "record_id"),)

    id = Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    actor_id = Column(Integer)
    actor = Column(String(64), index=True)
    roles = Column(String(200))
    via = Column(String(20), nullable=False, default="web")  # web, api, cli, task
    client_addr = Column(String(64))
    request_id = Column(String(64))
    action = Column(String(32), nullable=False, index=True)
    record_type = Column(String(64))
    record_id = Column(String(64))
    area_id = Column(Integer)
    summary = Column(String(300))
    changes = Column(Text)  # JSON: {field: [before, after]}
    key_id = Column(String(16))  # the MAC's key (app/core/audit_keys.py); none before migration 0017
    prev_hash = Column(String(64), nullable=False)
    entry_hash = Column(String(64), nullable=False, unique=True)

    def __repr__(self):
        return f"{self.at} {self.actor} {self.action} {self.record_type}#{self.record_id}"


class AuditSeal(Model):
    """A seal over archived entries: what was exported (file and its SHA-256) and the hash of
    the last archived entry, which the first remaining entry must chain on to."""

    __tablename__ = "audit_seal"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    first_id = Column(BigInteger, nullable=False)
    last_id = Column(BigInteger, nullable=False, unique=True)
    last_hash = Column(String(64), nullable=False)
    entry_count = Column(Integer, nullable=False)
    file_name = Column(String(300), nullable=False)
    file_sha256 = Column(String(64), nullable=False)
