"""Publishing Celery tasks by name, after commit, carrying ids only (never bodies or secrets).

Tasks are addressed by name so the API never imports the worker's modules. Each WhatsApp session
has two queues: `wa.<session>` for interactive work (single sends, reads, control-adjacent jobs) and
`wa.<session>.bulk` for bulk chains, so a single send never waits behind a long bulk.
"""
from __future__ import annotations

from core.celery_app import celery_app

SEND_MESSAGE = "tasks.messages.send_message"
RUN_BULK = "tasks.messages.run_bulk"
MARK_READ = "tasks.messages.mark_read"
RECONCILE = "tasks.messages.reconcile_message"
DOWNLOAD_MEDIA = "tasks.messages.download_media"


def interactive_queue(session: str) -> str:
    return f"wa.{session}"


def bulk_queue(session: str) -> str:
    return f"wa.{session}.bulk"


def publish_send(message_id, session: str, task_id: str | None = None, countdown: float | None = None) -> str:
    result = celery_app.send_task(SEND_MESSAGE, args=[str(message_id)], queue=interactive_queue(session),
                                  task_id=task_id, countdown=countdown)
    return result.id


def publish_bulk(job_id, session: str, chain: str, countdown: float | None = None) -> None:
    celery_app.send_task(RUN_BULK, args=[str(job_id), chain], queue=bulk_queue(session), countdown=countdown)


def publish_mark_read(message_id, session: str) -> None:
    celery_app.send_task(MARK_READ, args=[str(message_id)], queue=interactive_queue(session))


def publish_reconcile(message_id, session: str, countdown: float | None = None) -> None:
    celery_app.send_task(RECONCILE, args=[str(message_id)], queue=interactive_queue(session), countdown=countdown)


def publish_download_media(message_id, session: str) -> None:
    celery_app.send_task(DOWNLOAD_MEDIA, args=[str(message_id)], queue=interactive_queue(session))
