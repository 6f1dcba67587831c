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
CHECK_STEP = "tasks.contacts.check_step"
SYNC_CONTACTS = "tasks.contacts.sync_contacts"


def interactive_queue(session: str) -> str:
    return f"wa.{session}"


def bulk_queue(session: str) -> str:
    return f"wa.{session}.bulk"


def queue_depth(session: str) -> dict[str, int]:
    """Tasks waiting on the session's queues (Celery's Redis transport keeps each queue in a list)."""
    from core.redis import get_redis

    interactive, bulk = get_redis().pipeline().llen(interactive_queue(session)).llen(bulk_queue(session)).execute()
    return {"interactive": interactive, "bulk": bulk, "total": interactive + bulk}


def publish_send(message_id, session: str, task_id: str | None = None, countdown: float | None = None) -> str:
    # ignore_result: the row is the outcome. Without it, every publish from the API also subscribes
    # the web process to the task's result channel (two Redis round trips for a result never read).
    result = celery_app.send_task(SEND_MESSAGE, args=[str(message_id)], queue=interactive_queue(session),
                                  task_id=task_id, countdown=countdown, ignore_result=True)
    return result.id


def publish_bulk(job_id, session: str, chain: str, countdown: float | None = None) -> None:
    celery_app.send_task(RUN_BULK, args=[str(job_id), chain], queue=bulk_queue(session), countdown=countdown)


def publish_mark_read(message_id, session: str) -> None:
    celery_app.send_task(MARK_READ, args=[str(message_id)], queue=interactive_queue(session))


def publish_reconcile(message_id, session: str, countdown: float | None = None) -> None:
    celery_app.send_task(RECONCILE, args=[str(message_id)], queue=interactive_queue(session), countdown=countdown)


def publish_check(job_id, session: str, countdown: float | None = None, batch: bool = False) -> str:
    """One step of a WhatsApp-existence check job; a batch runs on the bulk queue, behind nothing urgent."""
    queue = bulk_queue(session) if batch else interactive_queue(session)
    return celery_app.send_task(CHECK_STEP, args=[str(job_id)], queue=queue, countdown=countdown).id


def publish_sync_contacts(session: str, task_id: str | None = None) -> str:
    return celery_app.send_task(SYNC_CONTACTS, queue=interactive_queue(session), task_id=task_id).id


def publish_download_media(message_id, session: str) -> None:
    celery_app.send_task(DOWNLOAD_MEDIA, args=[str(message_id)], queue=interactive_queue(session))
