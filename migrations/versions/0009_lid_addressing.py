"""WhatsApp's LID addressing: a contact's LID beside its phone number; an incoming message from a LID
that cannot be resolved yet keeps the LID and no phone number (never a LID posing as a number); acks
found by the message key's own id whichever form (`@c.us` or `@lid`) its chat part takes

The statistics function of 0007 is replaced by the same one that leaves messages without a phone
number out of the per-number rollup (they count everywhere else, and join it once resolved).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

KEY_ID = "split_part(wa_message_id, '_', 3)"
PHONES_GROUPED = "FROM changes GROUP BY 1, 2, 3 HAVING"


def _rollup_function(skip_unknown_numbers: bool) -> str:
    """0007's message_rollups_apply(), with the per-number rollup skipping rows without a number."""
    spec = importlib.util.spec_from_file_location("stats_0007", Path(__file__).with_name("0007_stats_per_session.py"))
    stats_0007 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stats_0007)
    function = stats_0007._function(per_session=True)
    assert function.count(PHONES_GROUPED) == 3, "0007's function changed: update this migration"
    if skip_unknown_numbers:
        function = function.replace(PHONES_GROUPED, "FROM changes WHERE phone_number IS NOT NULL GROUP BY 1, 2, 3 HAVING")
    return function


def upgrade() -> None:
    op.add_column("contacts", sa.Column("lid", sa.String(length=64), nullable=True))
    op.create_index("ix_contacts_lid", "contacts", ["lid"], unique=True, postgresql_where=sa.text("lid IS NOT NULL"))
    op.add_column("messages", sa.Column("lid", sa.String(length=64), nullable=True))
    op.alter_column("messages", "phone_number", existing_type=sa.String(length=32), nullable=True)
    op.create_check_constraint(op.f("ck_messages_phone_or_lid"), "messages", "phone_number IS NOT NULL OR lid IS NOT NULL")
    op.create_index("ix_messages_unresolved_lid", "messages", ["session", "lid"],
                    postgresql_where=sa.text("phone_number IS NULL"))
    op.create_index("ix_messages_session_wa_key", "messages", ["session", sa.text(KEY_ID)],
                    postgresql_where=sa.text("wa_message_id IS NOT NULL"))
    op.execute(_rollup_function(skip_unknown_numbers=True))


def downgrade() -> None:
    op.execute(_rollup_function(skip_unknown_numbers=False))
    op.drop_index("ix_messages_session_wa_key", table_name="messages")
    op.drop_index("ix_messages_unresolved_lid", table_name="messages")
    op.execute("DELETE FROM messages WHERE phone_number IS NULL")  # unresolved LIDs have no place before 0009
    op.drop_constraint(op.f("ck_messages_phone_or_lid"), "messages", type_="check")
    op.alter_column("messages", "phone_number", existing_type=sa.String(length=32), nullable=False)
    op.drop_column("messages", "lid")
    op.drop_index("ix_contacts_lid", table_name="contacts")
    op.drop_column("contacts", "lid")
