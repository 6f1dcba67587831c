"""Quiet hours per session: bulk and campaign messages wait during a daily window

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("quiet_hours", sa.String(11), nullable=True))
    op.add_column("sessions", sa.Column("quiet_timezone", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "quiet_timezone")
    op.drop_column("sessions", "quiet_hours")
