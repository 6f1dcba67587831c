"""WhatsApp groups: the group changes asked through the API, the participant changes WhatsApp
reported, and outgoing messages to a group (no phone number: the chat is the group)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

PHONE_OR_LID = "phone_number IS NOT NULL OR lid IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "group_operations",
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_code", sa.String(length=80), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_operations")),
    )
    op.create_index("ix_group_operations_session_created", "group_operations",
                    ["session", sa.text("created_at DESC")])
    op.create_table(
        "group_participant_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("author_phone", sa.String(length=32), nullable=True),
        sa.Column("author_lid", sa.String(length=64), nullable=True),
        sa.Column("participants", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_participant_changes")),
    )
    op.create_index("ix_group_participant_changes_group", "group_participant_changes",
                    ["session", "group_id", sa.text("at DESC")])
    op.drop_constraint(op.f("ck_messages_phone_or_lid"), "messages", type_="check")
    op.create_check_constraint(op.f("ck_messages_phone_or_lid"), "messages",
                               f"{PHONE_OR_LID} OR (from_me AND is_group_msg)")


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE phone_number IS NULL AND lid IS NULL")  # sends to groups
    op.drop_constraint(op.f("ck_messages_phone_or_lid"), "messages", type_="check")
    op.create_check_constraint(op.f("ck_messages_phone_or_lid"), "messages", PHONE_OR_LID)
    op.drop_index("ix_group_participant_changes_group", table_name="group_participant_changes")
    op.drop_table("group_participant_changes")
    op.drop_index("ix_group_operations_session_created", table_name="group_operations")
    op.drop_table("group_operations")
