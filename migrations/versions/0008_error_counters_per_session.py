"""Error counters per WhatsApp session (so /error-stats answers for one session)

`error_counters` gains `session` as the first column of its primary key. Counters counted before
this migration cannot be told apart by session: they go to the default session, read from the
SESSION_NAME environment variable with the default of core.settings ("assistenza"), the same
variable the application reads (a migration does not load the application's settings). Downgrade
adds the sessions' counters of each error type back together.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
import os
import re

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

DEFAULT_SESSION_NAME = "assistenza"  # core.settings.Settings.session_name when this migration was written


def _default_session() -> str:
    name = os.environ.get("SESSION_NAME") or DEFAULT_SESSION_NAME
    if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
        raise RuntimeError(f"SESSION_NAME={name!r} is not a session name: 1 to 32 of a-z, 0-9, _ and -")
    return name


def upgrade() -> None:
    op.add_column('error_counters', sa.Column('session', sa.String(length=64), nullable=False,
                                              server_default=_default_session()))
    op.alter_column('error_counters', 'session', server_default=None)
    op.drop_constraint('pk_error_counters', 'error_counters', type_='primary')
    op.create_primary_key('pk_error_counters', 'error_counters', ['session', 'error_type'])


def downgrade() -> None:
    # One row per error type again: counts added up, the earliest reset, the latest failure's message.
    op.execute("""
        CREATE TEMPORARY TABLE error_counters_merged AS
        SELECT error_type, sum(count)::int AS count, min(since) AS since, max(last_at) AS last_at,
               (array_agg(last_message ORDER BY last_at DESC NULLS LAST))[1] AS last_message
        FROM error_counters GROUP BY error_type""")
    op.execute("DELETE FROM error_counters")
    op.drop_constraint('pk_error_counters', 'error_counters', type_='primary')
    op.drop_column('error_counters', 'session')
    op.create_primary_key('pk_error_counters', 'error_counters', ['error_type'])
    op.execute("INSERT INTO error_counters (error_type, count, since, last_at, last_message) "
               "SELECT error_type, count, since, last_at, last_message FROM error_counters_merged")
    op.execute("DROP TABLE error_counters_merged")
