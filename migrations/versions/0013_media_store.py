"""Media in PostgreSQL: `media` (one file) and `media_chunks` (its bytes, bytea EXTERNAL), messages
point at their attachment (`media_id`, kind, filename), as may a schedule; the worker-local
`media_path` is gone (the API on another host could never read it)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'media',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('session', sa.String(64), nullable=False),
        sa.Column('direction', sa.String(10), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('mimetype', sa.String(255), nullable=False),
        sa.Column('filename', sa.String(255), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_media')),
    )
    op.create_index('ix_media_created_at', 'media', ['created_at'])
    op.create_table(
        'media_chunks',
        sa.Column('media_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['media_id'], ['media.id'], ondelete='CASCADE',
                                name=op.f('fk_media_chunks_media_id_media')),
        sa.PrimaryKeyConstraint('media_id', 'seq', name=op.f('pk_media_chunks')),
    )
    # media is mostly compressed already: skip pglz, and let substring() read a slice in place
    op.execute("ALTER TABLE media_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    op.add_column('messages', sa.Column('media_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column('messages', sa.Column('media_type', sa.String(16), nullable=True))
    op.add_column('messages', sa.Column('filename', sa.String(255), nullable=True))
    op.create_foreign_key(op.f('fk_messages_media_id_media'), 'messages', 'media', ['media_id'], ['id'],
                          ondelete='SET NULL')
    op.create_index('ix_messages_media_id', 'messages', ['media_id'],
                    postgresql_where=sa.text('media_id IS NOT NULL'))
    op.drop_column('messages', 'media_path')
    op.add_column('scheduled_messages', sa.Column('media_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(op.f('fk_scheduled_messages_media_id_media'), 'scheduled_messages', 'media',
                          ['media_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_scheduled_messages_media_id_media'), 'scheduled_messages', type_='foreignkey')
    op.drop_column('scheduled_messages', 'media_id')
    op.add_column('messages', sa.Column('media_path', sa.Text(), nullable=True))
    op.drop_index('ix_messages_media_id', table_name='messages')
    op.drop_constraint(op.f('fk_messages_media_id_media'), 'messages', type_='foreignkey')
    op.drop_column('messages', 'filename')
    op.drop_column('messages', 'media_type')
    op.drop_column('messages', 'media_id')
    op.drop_table('media_chunks')
    op.drop_index('ix_media_created_at', table_name='media')
    op.drop_table('media')
