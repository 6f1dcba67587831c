"""The retention purge's scan: a partial index of the messages still holding personal content

Without it each purge batch walked, from the oldest message, every row an earlier batch had already
blanked (quadratic over a long backlog). Built CONCURRENTLY: messages keeps taking writes meanwhile.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""
from alembic import op
from sqlalchemy import text

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

HOLDS_CONTENT = ("body IS NOT NULL OR caption IS NOT NULL OR sender_name IS NOT NULL OR media_id IS NOT NULL "
                 "OR error_message IS NOT NULL")  # models.messages.HOLDS_CONTENT when this was written


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_messages_holding_content", "messages", ["created_at"], postgresql_where=text(HOLDS_CONTENT),
                        postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_messages_holding_content", table_name="messages", postgresql_concurrently=True,
                      if_exists=True)
