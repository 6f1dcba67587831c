"""Statistics rollups of `messages`, kept by statement-level triggers (migration 0004), so
/detailed-stats reads a few thousand rollup rows instead of scanning the messages of its window.

Every rollup is keyed first by the message's WhatsApp session (migration 0007), then by buckets of
UTC hours (counts) or UTC days (phone numbers, latencies) of the message's `created_at`. Like
`message_counts`, each database backend adds to its own shard (pg_backend_pid() % 16) and an update
moves a message by adding -1 to its old key and +1 to its new one: a figure is the sum over shards, and single rows may be 0 or negative.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

NO_TEMPLATE = uuid.UUID(int=0)  # template_id of messages sent without a template


class MessageHourlyCount(Base):
    """Messages per session, UTC hour of creation, direction, status, failure type (only for FAILED,
    '' when none or not failed) and template (NO_TEMPLATE when none)."""

    __tablename__ = "message_hourly_counts"

    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    error_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)  # int4: sum() of it is a bigint, not a slow numeric


class MessageDailyPhone(Base):
    """Messages per session, UTC day of creation and phone number (top contacts)."""

    __tablename__ = "message_daily_phones"

    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    phone_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)  # int4: sum() of it is a bigint, not a slow numeric


class MessageLatencyDaily(Base):
    """Histogram of seconds from queued (created_at) to sent_at (`kind` 'sent') and to delivered_at
    ('delivered', only for messages that have a sent_at) of outgoing messages, per session and UTC
    day of creation. Log-scale buckets, 16 per doubling (SQL function message_latency_bucket): bucket 0 is
    under 1 ms, bucket b >= 1 holds [2^((b-1)/16), 2^(b/16)) ms."""

    __tablename__ = "message_latency_daily"

    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    bucket: Mapped[int] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)  # int4: sum() of it is a bigint, not a slow numeric


class SessionUptimeHourly(Base):
    """Seconds a session was watched and seconds it was CONNECTED, per UTC hour: beat's health check
    adds its interval to both (services/uptime.py), so uptime is the connected share of the time the
    gateway watched (a beat that was down counts neither way). Hours serve both the rolling 24 h of
    the uptime alert and the panel's days."""

    __tablename__ = "session_uptime_hourly"

    session: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    observed_seconds: Mapped[int] = mapped_column(default=0)
    connected_seconds: Mapped[int] = mapped_column(default=0)
