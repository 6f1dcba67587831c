"""Messages (the outbox and the inbox), their status history, and bulk jobs."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class BulkJob(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "bulk_jobs"

    kind: Mapped[str] = mapped_column(String(20), default="bulk")  # bulk, template, campaign
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    session: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(80))  # principal id, see web/auth.py
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    total: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[list] = mapped_column(JSONB, default=list)  # [{"number", "reason"}]
    cancelled_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# the columns the retention purge blanks; a row with all of them null holds no personal content
CONTENT_COLUMNS = ("body", "caption", "sender_name", "media_id", "error_message")
HOLDS_CONTENT = " OR ".join(f"{column} IS NOT NULL" for column in CONTENT_COLUMNS)


class Message(UUIDPrimaryKey, Base):
    __tablename__ = "messages"

    session: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    # E.164 digits, no plus; None for an incoming message from a LID not resolved yet (`lid`) and for
    # our own sends to a group (`chat_id` is the group)
    phone_number: Mapped[str | None] = mapped_column(String(32))
    lid: Mapped[str | None] = mapped_column(String(64))  # the sender's `<digits>@lid`, when WhatsApp gave one
    chat_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(String(255))
    from_me: Mapped[bool] = mapped_column(default=True)
    is_group_msg: Mapped[bool] = mapped_column(default=False)
    media_url: Mapped[str | None] = mapped_column(Text)
    # the attachment in the media store (models/media.py); NULL once purged (MEDIA_RETENTION_DAYS)
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    media_type: Mapped[str | None] = mapped_column(String(16))  # image, video, audio, ptt, document, sticker
    filename: Mapped[str | None] = mapped_column(String(255))
    mimetype: Mapped[str | None] = mapped_column(String(255))
    caption: Mapped[str | None] = mapped_column(Text)
    wa_message_id: Mapped[str | None] = mapped_column(String(255))
    error_type: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    task_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(80))  # principal that queued it
    bulk_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bulk_jobs.id", ondelete="SET NULL"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    scheduled_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("scheduled_messages.id", ondelete="SET NULL")
    )
    timestamp: Mapped[datetime | None]  # WhatsApp's own time of the message
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # = queued (or received) at
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]  # next retry time while QUEUED after a transient failure

    __table_args__ = (
        # newest-first keyset pagination, overall and per conversation
        Index("ix_messages_created_at_id", text("created_at DESC"), text("id DESC")),
        Index("ix_messages_phone_created", "phone_number", text("created_at DESC"), text("id DESC")),
        # one session's messages newest first (lists, per-session statistics), however few they are
        Index("ix_messages_session_created_id", "session", text("created_at DESC"), text("id DESC")),
        Index("ix_messages_status_created", "status", "created_at"),
        Index("ix_messages_bulk_job_status", "bulk_job_id", "status"),
        Index("ix_messages_session_wa_id", "session", "wa_message_id", unique=True,
              postgresql_where=text("wa_message_id IS NOT NULL")),
        # an ack names the message key in the chat's LID form or its phone form: the key's own id matches both
        Index("ix_messages_session_wa_key", "session", text("split_part(wa_message_id, '_', 3)"),
              postgresql_where=text("wa_message_id IS NOT NULL")),
        Index("ix_messages_media_id", "media_id", postgresql_where=text("media_id IS NOT NULL")),
        Index("ix_messages_unresolved_lid", "session", "lid", postgresql_where=text("phone_number IS NULL")),
        # a person's message names them; only our own sends to a group have no person to name
        CheckConstraint("phone_number IS NOT NULL OR lid IS NOT NULL OR (from_me AND is_group_msg)",
                        name="phone_or_lid"),
        # the outbox sweeper's scan: only unfinished outgoing rows
        Index("ix_messages_outbox", "session", "status", "created_at",
              postgresql_where=text("status IN ('QUEUED', 'SENDING')")),
        Index("ix_messages_body_trgm", "body", postgresql_using="gin",
              postgresql_ops={"body": "gin_trgm_ops"}),
        # the retention purge's scan: only rows still holding personal data (services/privacy.py),
        # so each batch starts at the oldest such row instead of walking every blanked one first
        Index("ix_messages_holding_content", "created_at", postgresql_where=text(HOLDS_CONTENT)),
    )


class MessageEvent(Base):
    """One line of a message's history: each status change and each failed attempt."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    error_type: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class MessageCount(Base):
    """Running message counts per session, direction and status, kept by statement-level triggers on
    `messages` (migrations 0003 and 0005), so whole-history statistics never scan the messages.

    Each database backend adds to its own shard (pg_backend_pid() % 16): concurrent writers never
    wait on one hot counter row. Totals are the sum over shards."""

    __tablename__ = "message_counts"

    shard: Mapped[int] = mapped_column(primary_key=True)
    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
