"""WhatsApp-existence checks asked through the API: one number or a batch, worked off by short,
paced task steps. The answers themselves live on the contacts (`has_whatsapp`, `whatsapp_checked_at`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey


class CheckJob(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "check_jobs"

    session: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(80))  # principal id
    numbers: Mapped[list] = mapped_column(JSONB)  # E.164 digits, in order, no duplicates
    position: Mapped[int] = mapped_column(default=0)  # numbers[:position] are answered
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")  # RUNNING, DONE, FAILED
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
