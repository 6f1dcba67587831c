"""The event log (the truth every live stream and webhook reads) and the webhook endpoints and
deliveries that fan it out."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class Event(Base):
    """One observed change, written in the transaction of the change (services/events.py)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)  # the SSE id, monotonic
    type: Mapped[str] = mapped_column(String(32))
    session: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    payload: Mapped[dict] = mapped_column(JSONB)

    __table_args__ = (Index("ix_events_at", "at"),)


class WebhookEndpoint(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    session: Mapped[str | None] = mapped_column(String(64))  # None: every session's events
    active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(64))  # whsec_<base64>
    previous_secret: Mapped[str | None] = mapped_column(String(64))  # still signs until...
    previous_secret_until: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # first failure of the current run of failures
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(80))


class WebhookDelivery(UUIDPrimaryKey, Base):
    """One event for one endpoint: sent at least once, retried from this row (never from the broker)."""

    __tablename__ = "webhook_deliveries"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # None for a `webhook.test`
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict | None] = mapped_column(JSONB)  # a test's body; others read their event
    status: Mapped[str] = mapped_column(String(12), default="PENDING")  # PENDING, DELIVERED, FAILED
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow, server_default=func.now())
    last_status_code: Mapped[int | None]
    last_response: Mapped[str | None] = mapped_column(Text)  # a bounded excerpt of the body
    last_error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # the sweeper's query: only PENDING rows are indexed
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'PENDING'")),
    )
