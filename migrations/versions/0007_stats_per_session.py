"""Statistics rollups per WhatsApp session (so /detailed-stats answers for one session); an index on
messages (session, created_at, id) for the per-session lists and the per-session statistics scans

The three rollups of migration 0004 gain `session` as the first column of their primary keys, are
rebuilt from `messages`, and message_rollups_apply() is replaced by one that keys by session too.
Downgrade does the reverse and restores 0004's function.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

NO_TEMPLATE = "'00000000-0000-0000-0000-000000000000'::uuid"
COLUMNS = "created_at, direction, status, error_type, template_id, phone_number, sent_at, delivered_at"

# message_rollups_apply() of migration 0004 with `{s}` where the session goes: "session, " keys the
# rollups by session (this migration), "" gives back 0004's function (downgrade). Same rules as
# 0004: one statement per firing, keys grouped and ordered, each writer in its own shard.
APPLY = """
WITH changes AS MATERIALIZED ({changes}),
hourly AS (
    INSERT INTO message_hourly_counts AS t ({s}hour, direction, status, error_type, template_id, shard, count)
    SELECT {s}date_trunc('hour', created_at, 'UTC'), direction, status,
           CASE WHEN status = 'FAILED' THEN coalesce(error_type, '') ELSE '' END,
           coalesce(template_id, {no_template}), {shard}, sum(delta)
    FROM changes GROUP BY {groups5} HAVING sum(delta) <> 0 ORDER BY {groups5}
    ON CONFLICT ({s}hour, direction, status, error_type, template_id, shard)
    DO UPDATE SET count = t.count + EXCLUDED.count
),
phones AS (
    INSERT INTO message_daily_phones AS t ({s}day, phone_number, shard, count)
    SELECT {s}(created_at AT TIME ZONE 'UTC')::date, phone_number, {shard}, sum(delta)
    FROM changes GROUP BY {groups2} HAVING sum(delta) <> 0 ORDER BY {groups2}
    ON CONFLICT ({s}day, phone_number, shard) DO UPDATE SET count = t.count + EXCLUDED.count
)
INSERT INTO message_latency_daily AS t ({s}day, kind, bucket, shard, count)
SELECT {cs}(c.created_at AT TIME ZONE 'UTC')::date, l.kind, message_latency_bucket(l.at - c.created_at),
       {shard}, sum(c.delta)
FROM changes c CROSS JOIN LATERAL (VALUES
    ('sent', c.sent_at),
    ('delivered', CASE WHEN c.sent_at IS NOT NULL THEN c.delivered_at END)) l(kind, at)
WHERE c.direction = 'outgoing' AND l.at IS NOT NULL
GROUP BY {groups3} HAVING sum(c.delta) <> 0 ORDER BY {groups3}
ON CONFLICT ({s}day, kind, bucket, shard) DO UPDATE SET count = t.count + EXCLUDED.count
"""

FUNCTION = """
CREATE OR REPLACE FUNCTION message_rollups_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {};
    ELSIF TG_OP = 'DELETE' THEN
        {};
    ELSE
        {};
    END IF;
    RETURN NULL;
END $$
"""

# (table, primary key columns after the optional session)
ROLLUPS = (("message_hourly_counts", ["hour", "direction", "status", "error_type", "template_id", "shard"]),
           ("message_daily_phones", ["day", "phone_number", "shard"]),
           ("message_latency_daily", ["day", "kind", "bucket", "shard"]))


def _apply(changes: str, per_session: bool, shard: str = "pg_backend_pid() % 16") -> str:
    def groups(n: int) -> str:
        return ", ".join(str(i) for i in range(1, n + 1 + per_session))

    return APPLY.format(changes=changes, no_template=NO_TEMPLATE, shard=shard,
                        s="session, " if per_session else "", cs="c.session, " if per_session else "",
                        groups5=groups(5), groups2=groups(2), groups3=groups(3))


def _function(per_session: bool) -> str:
    columns = f"session, {COLUMNS}" if per_session else COLUMNS
    return FUNCTION.format(
        _apply(f"SELECT {columns}, 1 AS delta FROM new_rows", per_session),
        _apply(f"SELECT {columns}, -1 AS delta FROM old_rows", per_session),
        _apply(f"SELECT {columns}, -1 AS delta FROM old_rows UNION ALL SELECT {columns}, 1 FROM new_rows",
               per_session))


def _rekey(per_session: bool) -> None:
    """Rebuild the three rollups, keyed by session or not, from the messages themselves. Writers of
    `messages` are locked out first (until this migration commits): none is caught between the old
    function and the new columns, and the rebuild sees every row the new triggers will not."""
    op.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
    for table, key in ROLLUPS:
        op.execute(f"TRUNCATE {table}")
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        if per_session:
            op.add_column(table, sa.Column("session", sa.String(length=64), nullable=False))
            key = ["session", *key]
        else:
            op.drop_column(table, "session")
        op.create_primary_key(f"pk_{table}", table, key)
    op.execute(_function(per_session))
    columns = f"session, {COLUMNS}" if per_session else COLUMNS
    op.execute(_apply(f"SELECT {columns}, 1 AS delta FROM messages", per_session, shard="0"))
    op.execute("ANALYZE message_hourly_counts, message_daily_phones, message_latency_daily")


def upgrade() -> None:
    _rekey(per_session=True)
    op.create_index("ix_messages_session_created_id", "messages",
                    ["session", sa.text("created_at DESC"), sa.text("id DESC")])


def downgrade() -> None:
    op.drop_index("ix_messages_session_created_id", table_name="messages")
    _rekey(per_session=False)
