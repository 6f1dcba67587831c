"""Session uptime per UTC hour: seconds watched and seconds CONNECTED, added by beat's health check

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_uptime_hourly",
        sa.Column("session", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("observed_seconds", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("connected_seconds", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("session_uptime_hourly")
