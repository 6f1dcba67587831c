"""Opt-out: a contact who wrote an opt-out keyword (or whom an admin opted out) is skipped by bulk
sends and campaigns, and a single send to them is refused unless it is transactional

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contacts", sa.Column("opt_out_reason", sa.Text(), nullable=True))
    op.create_index("ix_contacts_opted_out", "contacts", ["phone_number"],
                    postgresql_where=sa.text("opted_out_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_contacts_opted_out", table_name="contacts")
    op.drop_column("contacts", "opt_out_reason")
    op.drop_column("contacts", "opted_out_at")
