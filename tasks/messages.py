"""Tasks of the WhatsApp worker (queues `wa.<session>` and `wa.<session>.bulk`). Ids only."""
from __future__ import annotations

import uuid

from core.celery_app import celery_app
from services.send_rules import MAX_BROKER_DELAY_SECONDS
from tasks.base import DbTask

# Celery's own retries ride on the broker as countdowns: keep each one short (DESIGN section 1)
SHORT_BACKOFF = {"retry_backoff": True, "retry_backoff_max": int(MAX_BROKER_DELAY_SECONDS)}


def _courier():
    from worker.runtime import driving_courier  # only a WhatsApp worker has one

    return driving_courier()


@celery_app.task(name="tasks.messages.send_message", base=DbTask)
def send_message(message_id: str) -> str:
    return _courier().send_one(uuid.UUID(message_id)).value


@celery_app.task(name="tasks.messages.run_bulk", base=DbTask)
def run_bulk(job_id: str, chain: str) -> str:
    return _courier().bulk_step(uuid.UUID(job_id), chain).value


@celery_app.task(name="tasks.messages.reconcile_message", base=DbTask)
def reconcile_message(message_id: str) -> str:
    return _courier().reconcile(uuid.UUID(message_id)).value


@celery_app.task(name="tasks.messages.mark_read", base=DbTask, autoretry_for=(Exception,), max_retries=5,
                 **SHORT_BACKOFF)
def mark_read(message_id: str) -> None:
    _courier().mark_chat_read(uuid.UUID(message_id))


@celery_app.task(name="tasks.messages.download_media", base=DbTask, autoretry_for=(Exception,), max_retries=5,
                 **SHORT_BACKOFF)
def download_media(message_id: str) -> str | None:
    return _courier().download_media(uuid.UUID(message_id))
