"""Operational rows: error counters and idempotency keys."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UUIDPrimaryKey, utcnow


class ErrorCounter(Base):
    """Failures of one WhatsApp session's messages per error type since the last reset (migration 0008)."""

    __tablename__ = "error_counters"

    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    error_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    since: Mapped[datetime] = mapped_column(default=utcnow)  # last reset
    last_at: Mapped[datetime | None]
    last_message: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(UUIDPrimaryKey, Base):
    """An `Idempotency-Key` seen from one caller, with the answer to replay (kept 24 h)."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(80))  # the caller's principal id
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )


class Alert(UUIDPrimaryKey, Base):
    """A problem beat found (services/alerts.py): open while it lasts (`resolved_at` NULL), one open
    row per kind and subject however many checks see it, resolved when the condition clears."""

    __tablename__ = "alerts"

    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # a session's name, a store ("tokens", "media"), or ""
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSONB)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_alerts_open_kind_subject", "kind", "subject", unique=True,
              postgresql_where=text("resolved_at IS NULL")),
        Index("ix_alerts_raised_at", "raised_at"),
    )


class RuntimeSetting(Base):
    """A setting an operator changed through /api/settings (services/runtime_settings.py): it
    overrides the environment's value of the same name until reset. Only tunables, never secrets."""

    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # the Settings field, e.g. send_min_interval_ms
    value: Mapped[Any] = mapped_column(JSONB)  # a number
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(80))
