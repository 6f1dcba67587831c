"""scheduled runs name the message they queued (one-recipient schedules)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('scheduled_runs', sa.Column('message_id', sa.UUID(), nullable=True))
    op.create_foreign_key(op.f('fk_scheduled_runs_message_id_messages'), 'scheduled_runs', 'messages',
                          ['message_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_scheduled_runs_message_id_messages'), 'scheduled_runs', type_='foreignkey')
    op.drop_column('scheduled_runs', 'message_id')
