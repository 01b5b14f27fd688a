"""audit log: append an entry in one statement on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 10:00:00

``gongjian_audit_append`` takes the chain's advisory lock, reads the last entry and inserts the
next one, hashing it as app/audit.py's ``entry_hash`` does (SHA-256 of the previous hash and the
entry's canonical JSON, which the application sends in two halves around the id). Every audited
write called three statements for this (lock, read, insert); one call is one round trip and one
prepared plan.

The read must see every entry committed before the lock was granted: in READ COMMITTED each
statement of a VOLATILE PL/pgSQL function takes a fresh snapshot, so the SELECT after the lock
does (a single plain statement could not: its snapshot predates its wait for the lock).
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The advisory lock key is app/audit.py's ADVISORY_LOCK_KEY ("GJAUDIT"), kept literal here so the
# migration does not change when the application does.
FUNCTION = """
CREATE OR REPLACE FUNCTION gongjian_audit_append(
    p_at timestamp, p_actor_id integer, p_actor text, p_roles text, p_via text, p_client_addr text,
    p_request_id text, p_action text, p_record_type text, p_record_id text, p_area_id integer,
    p_summary text, p_changes text, p_json_head text, p_json_tail text
) RETURNS void AS $$
DECLARE
    last_id bigint;
    last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(20066367810324820);
    SELECT id, entry_hash INTO last_id, last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    last_id := COALESCE(last_id, 0) + 1;
    last_hash := COALESCE(last_hash, repeat('0', 64));
    INSERT INTO audit_log (id, at, actor_id, actor, roles, via, client_addr, request_id, action,
                           record_type, record_id, area_id, summary, changes, prev_hash, entry_hash)
    VALUES (last_id, p_at, p_actor_id, p_actor, p_roles, p_via, p_client_addr, p_request_id, p_action,
            p_record_type, p_record_id, p_area_id, p_summary, p_changes, last_hash,
            encode(sha256(convert_to(last_hash || p_json_head || last_id::text || p_json_tail, 'UTF8')), 'hex'));
END
$$ LANGUAGE plpgsql VOLATILE
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS gongjian_audit_append(timestamp, integer, text, text, text, text, text, text,"
               " text, text, integer, text, text, text, text)")
