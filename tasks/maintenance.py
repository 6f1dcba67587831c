"""Periodic jobs on the default queue (no browser): the outbox sweeper and clean-ups."""
from __future__ import annotations

from dataclasses import asdict

from core.celery_app import celery_app
from core.db import db
from core.settings import get_settings
from services import idempotency, outbox
from tasks.base import DbTask


@celery_app.task(name="tasks.maintenance.sweep_outbox", base=DbTask)
def sweep_outbox() -> dict:
    idle = get_settings().outbox_republish_after_seconds
    return asdict(outbox.sweep(db, idle_seconds=idle, chain_idle_seconds=idle))


@celery_app.task(name="tasks.maintenance.purge_idempotency_keys", base=DbTask)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired(db)
