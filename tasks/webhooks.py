"""Webhook deliveries (queue `webhooks`: never a WhatsApp queue) and their sweeper (beat)."""
from __future__ import annotations

import uuid

from core.celery_app import celery_app
from core.db import db
from core.settings import current_settings
from services import events, webhooks
from tasks.base import DbTask
from tasks.periodic import locked_task


@celery_app.task(name=webhooks.DELIVER, base=DbTask)
def deliver(delivery_ids: list[str]) -> dict[str, str]:
    return webhooks.deliver(db, current_settings(), [uuid.UUID(i) for i in delivery_ids])


@locked_task("tasks.webhooks.sweep_deliveries", lock_seconds=120)
def sweep_deliveries() -> int:
    return webhooks.sweep(db)


@locked_task("tasks.webhooks.purge_events", lock_seconds=3600)
def purge_events() -> int:
    return events.purge(db, current_settings().events_keep_days)
