"""Account safety per session: typing before each send; quiet hours that hold single sends too

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("typing_before_send", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column("sessions", sa.Column("quiet_hold_singles", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("sessions", "quiet_hold_singles")
    op.drop_column("sessions", "typing_before_send")
