"""Scheduled messages (one-off or cron) and the record of each run. Beat polls these rows:
schedules never live on the broker (see DESIGN.md §1)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class ScheduledMessage(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "scheduled_messages"

    session: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(80))
    recipients: Mapped[list] = mapped_column(JSONB)  # E.164 digits
    body: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    variables: Mapped[dict] = mapped_column(JSONB, default=dict)
    # one file (services/media.py) sent with every run, the text being its caption
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    send_at: Mapped[datetime | None]
    cron: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Rome")
    end_at: Mapped[datetime | None]
    max_runs: Mapped[int | None]
    run_count: Mapped[int] = mapped_column(default=0)
    next_run_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="ACTIVE")

    __table_args__ = (
        Index("ix_scheduled_due", "next_run_at", postgresql_where=text("status = 'ACTIVE'")),
    )


class ScheduledRun(Base):
    __tablename__ = "scheduled_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scheduled_message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scheduled_messages.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(12))  # SENT, SKIPPED
    reason: Mapped[str | None] = mapped_column(Text)
    bulk_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bulk_jobs.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
