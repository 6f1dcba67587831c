"""WhatsApp sessions (accounts) as rows: one per linked phone, each with its own queues and pacing."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, false
from sqlalchemy.orm import Mapped, mapped_column

from core.settings import SESSION_NAME_PATTERN as NAME_PATTERN
from models.base import Base, Timestamps, UUIDPrimaryKey

NAME_LENGTH = 32


class WaSession(UUIDPrimaryKey, Timestamps, Base):
    """A WhatsApp account the gateway serves. NULL pacing caps mean the SEND_* settings' values.

    Deleted sessions keep their row (messages and audit rows name them) with `deleted_at` set;
    creating the same name again brings the row back."""

    __tablename__ = "sessions"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)
    send_min_interval_ms: Mapped[int | None]
    send_jitter_ms: Mapped[int | None]
    send_max_per_second: Mapped[int | None]
    send_max_per_hour: Mapped[int | None]
    send_max_per_day: Mapped[int | None]
    quiet_hours: Mapped[str | None] = mapped_column(String(11))  # "21:00-08:00": bulks wait (services/quiet_hours.py)
    quiet_timezone: Mapped[str | None] = mapped_column(String(64))  # of the quiet hours; null: TIMEZONE
    # the quiet hours hold single interactive sends too, not only bulks and campaigns
    quiet_hold_singles: Mapped[bool] = mapped_column(default=False, server_default=false())
    # "typing..." shown in the chat before each send (worker/composing.py)
    typing_before_send: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by: Mapped[str | None] = mapped_column(String(80))
    updated_by: Mapped[str | None] = mapped_column(String(80))
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        CheckConstraint(f"name ~ '{NAME_PATTERN}'", name="name_format"),
        CheckConstraint("send_min_interval_ms >= 0 AND send_jitter_ms >= 0 AND send_max_per_hour >= 0 "
                        "AND send_max_per_day >= 0 AND send_max_per_second >= 1", name="pacing_caps"),
    )
