"""WhatsApp sessions as rows (name, description, active, pacing caps); the sessions each user and
API token may use; running message counts per session

The default session (SESSION_NAME) is not inserted here: the migration does not read the
application's settings, and services.sessions creates that row at first use.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# message_counts_apply() of migration 0003, keyed by session too (/stats counts one session's messages)
COUNT_FUNCTION = """
CREATE OR REPLACE FUNCTION message_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO message_counts (shard, {key}, count)
        SELECT pg_backend_pid() % 16, {key}, count(*) FROM new_rows GROUP BY {key}
        ON CONFLICT (shard, {key}) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO message_counts (shard, {key}, count)
        SELECT pg_backend_pid() % 16, {key}, -count(*) FROM old_rows GROUP BY {key}
        ON CONFLICT (shard, {key}) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    ELSE
        INSERT INTO message_counts (shard, {key}, count)
        SELECT pg_backend_pid() % 16, {key}, sum(delta) FROM (
            SELECT {key}, -1 AS delta FROM old_rows
            UNION ALL SELECT {key}, 1 FROM new_rows) changes
        GROUP BY {key} HAVING sum(delta) <> 0
        ON CONFLICT (shard, {key}) DO UPDATE SET count = message_counts.count + EXCLUDED.count;
    END IF;
    RETURN NULL;
END $$
"""
BY_SESSION, BY_STATUS = "session, direction, status", "direction, status"


def _rekey_counts(key: str) -> None:
    """Rebuild message_counts under primary key (shard, <key>) from the messages themselves. The
    table is locked from the TRUNCATE on: a concurrent insert's trigger waits, then counts its rows
    (not visible to the rebuild) with the new function."""
    op.execute("TRUNCATE message_counts")
    op.drop_constraint('pk_message_counts', 'message_counts', type_='primary')
    if key == BY_SESSION:
        op.add_column('message_counts', sa.Column('session', sa.String(length=64), nullable=False))
    else:
        op.drop_column('message_counts', 'session')
    op.create_primary_key('pk_message_counts', 'message_counts', ['shard', *key.split(", ")])
    op.execute(COUNT_FUNCTION.format(key=key))
    op.execute(f"INSERT INTO message_counts (shard, {key}, count) SELECT 0, {key}, count(*) FROM messages "
               f"GROUP BY {key}")


def upgrade() -> None:
    op.create_table('sessions',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('send_min_interval_ms', sa.Integer(), nullable=True),
    sa.Column('send_jitter_ms', sa.Integer(), nullable=True),
    sa.Column('send_max_per_second', sa.Integer(), nullable=True),
    sa.Column('send_max_per_hour', sa.Integer(), nullable=True),
    sa.Column('send_max_per_day', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('updated_by', sa.String(length=80), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.String(length=80), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("name ~ '^[a-z0-9_-]{1,32}$'", name=op.f('ck_sessions_name_format')),
    sa.CheckConstraint('send_min_interval_ms >= 0 AND send_jitter_ms >= 0 AND send_max_per_hour >= 0 '
                       'AND send_max_per_day >= 0 AND send_max_per_second >= 1',
                       name=op.f('ck_sessions_pacing_caps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('name', name=op.f('uq_sessions_name'))
    )
    op.add_column('users', sa.Column('allowed_sessions', postgresql.ARRAY(sa.String(length=32)),
                                     nullable=True))
    op.add_column('api_tokens', sa.Column('allowed_sessions', postgresql.ARRAY(sa.String(length=32)),
                                          nullable=True))
    _rekey_counts(BY_SESSION)


def downgrade() -> None:
    _rekey_counts(BY_STATUS)
    op.drop_column('api_tokens', 'allowed_sessions')
    op.drop_column('users', 'allowed_sessions')
    op.drop_table('sessions')
