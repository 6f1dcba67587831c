"""WhatsApp-existence check jobs; running message counts kept by triggers (fast statistics)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# One statement-level trigger per operation: the transition tables are aggregated once per
# statement (a 10,000-row bulk insert costs one upsert per status, not 10,000).
COUNT_FUNCTION = """
CREATE FUNCTION message_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO message_counts (shard, direction, status, count)
        SELECT pg_backend_pid() % 16, direction, status, count(*) FROM new_rows GROUP BY direction, status
        ON CONFLICT (shard, direction, status) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO message_counts (shard, direction, status, count)
        SELECT pg_backend_pid() % 16, direction, status, -count(*) FROM old_rows GROUP BY direction, status
        ON CONFLICT (shard, direction, status) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    ELSE
        INSERT INTO message_counts (shard, direction, status, count)
        SELECT pg_backend_pid() % 16, direction, status, sum(delta) FROM (
            SELECT direction, status, -1 AS delta FROM old_rows
            UNION ALL SELECT direction, status, 1 FROM new_rows) changes
        GROUP BY direction, status HAVING sum(delta) <> 0
        ON CONFLICT (shard, direction, status) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table('check_jobs',
    sa.Column('session', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('numbers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_jobs'))
    )
    op.create_table('message_counts',
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('shard', 'direction', 'status', name=op.f('pk_message_counts'))
    )
    op.execute(COUNT_FUNCTION)
    for operation, tables in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                              ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
        op.execute(f"CREATE TRIGGER messages_count_{operation.lower()} AFTER {operation} ON messages "
                   f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION message_counts_apply()")
    op.execute("INSERT INTO message_counts (shard, direction, status, count) "
               "SELECT 0, direction, status, count(*) FROM messages GROUP BY direction, status")


def downgrade() -> None:
    for operation in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER messages_count_{operation} ON messages")
    op.execute("DROP FUNCTION message_counts_apply()")
    op.drop_table('message_counts')
    op.drop_table('check_jobs')
