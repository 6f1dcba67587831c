from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class AuditLog(Base):
    """Who did what to which target, from where, and how it ended: one row per state change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(80))  # "user:<id>", "token:<id>" or None
    actor_name: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))  # success, denied, invalid, error
    status_code: Mapped[int | None]
    details: Mapped[dict | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_audit_log_at", text("at DESC"), text("id DESC")),
        Index("ix_audit_log_actor_at", "actor", text("at DESC")),
        Index("ix_audit_log_action_at", "action", text("at DESC")),
    )
