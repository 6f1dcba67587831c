"""Statistics rollups kept by statement-level triggers: hourly counts, daily counts per phone number,
daily latency histograms (so /detailed-stats never scans the messages of its window)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Log-scale latency buckets, 16 per doubling: bucket 0 is < 1 ms, bucket b >= 1 holds
# [2^((b-1)/16), 2^(b/16)) milliseconds. services/stats.py inverts it (LATENCY_STEPS).
BUCKET_FUNCTION = """
CREATE FUNCTION message_latency_bucket(elapsed interval) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN extract(epoch FROM elapsed) < 0.001 THEN 0
                ELSE 1 + floor(16 * ln(extract(epoch FROM elapsed)::float8 * 1000) / ln(2))::integer END
$$
"""

COLUMNS = "created_at, direction, status, error_type, template_id, phone_number, sent_at, delivered_at"
NO_TEMPLATE = "'00000000-0000-0000-0000-000000000000'::uuid"

# One statement per firing: the changed rows (old ones counted -1, new ones +1, so an update that
# touches none of the keys cancels out and writes nothing) feed the three rollups through
# data-modifying CTEs. Keys are grouped (one upsert per key) and ordered (rows locked in one order).
# Buckets are UTC hours and UTC days; every writer adds to its own shard, like message_counts.
APPLY = """
WITH changes AS MATERIALIZED ({changes}),
hourly AS (
    INSERT INTO message_hourly_counts AS t (hour, direction, status, error_type, template_id, shard, count)
    SELECT date_trunc('hour', created_at, 'UTC'), direction, status,
           CASE WHEN status = 'FAILED' THEN coalesce(error_type, '') ELSE '' END,
           coalesce(template_id, {no_template}), {shard}, sum(delta)
    FROM changes GROUP BY 1, 2, 3, 4, 5 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, direction, status, error_type, template_id, shard)
    DO UPDATE SET count = t.count + EXCLUDED.count
),
phones AS (
    INSERT INTO message_daily_phones AS t (day, phone_number, shard, count)
    SELECT (created_at AT TIME ZONE 'UTC')::date, phone_number, {shard}, sum(delta)
    FROM changes GROUP BY 1, 2 HAVING sum(delta) <> 0 ORDER BY 1, 2
    ON CONFLICT (day, phone_number, shard) DO UPDATE SET count = t.count + EXCLUDED.count
)
INSERT INTO message_latency_daily AS t (day, kind, bucket, shard, count)
SELECT (c.created_at AT TIME ZONE 'UTC')::date, l.kind, message_latency_bucket(l.at - c.created_at),
       {shard}, sum(c.delta)
FROM changes c CROSS JOIN LATERAL (VALUES
    ('sent', c.sent_at),
    ('delivered', CASE WHEN c.sent_at IS NOT NULL THEN c.delivered_at END)) l(kind, at)
WHERE c.direction = 'outgoing' AND l.at IS NOT NULL
GROUP BY 1, 2, 3 HAVING sum(c.delta) <> 0 ORDER BY 1, 2, 3
ON CONFLICT (day, kind, bucket, shard) DO UPDATE SET count = t.count + EXCLUDED.count
"""


def _apply(changes: str, shard: str = "pg_backend_pid() % 16") -> str:
    return APPLY.format(changes=changes, no_template=NO_TEMPLATE, shard=shard)


ROLLUP_FUNCTION = """
CREATE FUNCTION message_rollups_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
""".format(_apply(f"SELECT {COLUMNS}, 1 AS delta FROM new_rows"),
       _apply(f"SELECT {COLUMNS}, -1 AS delta FROM old_rows"),
       _apply(f"SELECT {COLUMNS}, -1 AS delta FROM old_rows UNION ALL SELECT {COLUMNS}, 1 FROM new_rows"))


def upgrade() -> None:
    op.create_table('message_hourly_counts',
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error_type', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.UUID(), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'direction', 'status', 'error_type', 'template_id', 'shard',
                            name=op.f('pk_message_hourly_counts'))
    )
    op.create_table('message_daily_phones',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('phone_number', sa.String(length=32), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'phone_number', 'shard', name=op.f('pk_message_daily_phones'))
    )
    op.create_table('message_latency_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'kind', 'bucket', 'shard', name=op.f('pk_message_latency_daily'))
    )
    op.execute(BUCKET_FUNCTION)
    op.execute(ROLLUP_FUNCTION)
    # CREATE TRIGGER locks out writers until this migration commits, so the backfill below sees
    # exactly the rows the triggers will not.
    for operation, tables in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                              ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
        op.execute(f"CREATE TRIGGER messages_rollup_{operation.lower()} AFTER {operation} ON messages "
                   f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION message_rollups_apply()")
    op.execute(_apply(f"SELECT {COLUMNS}, 1 AS delta FROM messages", shard="0"))
    op.execute("ANALYZE message_hourly_counts, message_daily_phones, message_latency_daily")


def downgrade() -> None:
    for operation in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER messages_rollup_{operation} ON messages")
    op.execute("DROP FUNCTION message_rollups_apply()")
    op.execute("DROP FUNCTION message_latency_bucket(interval)")
    op.drop_table('message_latency_daily')
    op.drop_table('message_daily_phones')
    op.drop_table('message_hourly_counts')
