"""WhatsApp groups: the changes asked through the API (one row per request, worked off by the
session's worker) and the participant changes WhatsApp reported (`group.participant_changed`).

Groups themselves are not stored: WhatsApp Web holds them, and the API reads them through the worker."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class GroupOperation(UUIDPrimaryKey, Timestamps, Base):
    """One group change (create, participants, subject, description, invite-link revoke, leave): the
    task carries only this row's id; the row keeps what was asked and what WhatsApp answered."""

    __tablename__ = "group_operations"

    session: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(64))  # None until a create has its id
    action: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict] = mapped_column(JSONB, default=dict)  # participants (E.164 digits), subject...
    status: Mapped[str] = mapped_column(String(10), default="PENDING")  # PENDING, DONE, FAILED
    result: Mapped[dict | None] = mapped_column(JSONB)
    error_code: Mapped[str | None] = mapped_column(String(80))  # the wa-js code, e.g. group_you_are_not_admin
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(80))  # principal id
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_group_operations_session_created", "session", text("created_at DESC")),)


class GroupParticipantChange(Base):
    """A `group.participant_changed` WhatsApp reported (ours or anyone's), people filed by phone number
    (resolved from LIDs like message senders); the events issue publishes these."""

    __tablename__ = "group_participant_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    session: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(10))  # add, remove, promote, demote, join, leaver
    author_phone: Mapped[str | None] = mapped_column(String(32))
    author_lid: Mapped[str | None] = mapped_column(String(64))
    participants: Mapped[list] = mapped_column(JSONB)  # [{"phoneNumber": digits | null, "lid": ... | null}]
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_group_participant_changes_group", "session", "group_id", text("at DESC")),)
