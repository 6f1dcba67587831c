"""Alerts raised by beat (services/alerts.py): one open row per kind and subject while it lasts

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("uq_alerts_open_kind_subject", "alerts", ["kind", "subject"], unique=True,
                    postgresql_where=sa.text("resolved_at IS NULL"))
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_raised_at", table_name="alerts")
    op.drop_index("uq_alerts_open_kind_subject", table_name="alerts")
    op.drop_table("alerts")
