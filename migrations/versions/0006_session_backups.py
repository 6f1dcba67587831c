"""Encrypted session backups: the parts of a browser profile that keep WhatsApp Web logged in

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('session_backups',
    sa.Column('session_name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_backups'))
    )
    op.create_index('ix_session_backups_session_created', 'session_backups', ['session_name', 'created_at'],
                    unique=False)
    # ciphertext does not compress: store it out of line without trying (TOAST would try pglz first)
    op.execute("ALTER TABLE session_backups ALTER COLUMN ciphertext SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_index('ix_session_backups_session_created', table_name='session_backups')
    op.drop_table('session_backups')
