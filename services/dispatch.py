"""Publishing Celery tasks by name, after commit, carrying ids only (never bodies or secrets).

Tasks are addressed by name so the API never imports the worker's modules. Each WhatsApp session
has two queues: `wa.<session>` for interactive work (single sends, reads, control-adjacent jobs) and
`wa.<session>.bulk` for bulk chains, so a single send never waits behind a long bulk.

`publish` is Celery's own `send_task` on a producer from the app's pool, so the broker connection
stays open between requests instead of being set up per message.
"""
from __future__ import annotations

import uuid

import kombu.exceptions
import redis

from core.celery_app import celery_for
from core.redis import Keys, get_redis
from core.settings import current_settings

# What a publish raises when the broker cannot be reached (the rows stay QUEUED for the sweeper).
PUBLISH_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError)
# A broken broker must not hold a request for Celery's default retry policy (up to ~1 s): one
# quick retry covers a connection the server dropped; the outbox sweeper covers the rest.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}

SEND_MESSAGE = "tasks.messages.send_message"
RUN_BULK = "tasks.messages.run_bulk"
MARK_READ = "tasks.messages.mark_read"
RECONCILE = "tasks.messages.reconcile_message"
DOWNLOAD_MEDIA = "tasks.messages.download_media"
CHECK_STEP = "tasks.contacts.check_step"
SYNC_CONTACTS = "tasks.contacts.sync_contacts"
RESOLVE_LIDS = "tasks.contacts.resolve_lids"
GROUP_READ = "tasks.groups.read_groups"
GROUP_OPERATION = "tasks.groups.run_group_operation"
BACKUP_SESSION = "tasks.backups.backup_session"
RESTORE_SESSION = "tasks.backups.restore_session"


def interactive_queue(session: str) -> str:
    return f"wa.{session}"


def bulk_queue(session: str) -> str:
    return f"wa.{session}.bulk"


def queue_depth(session: str) -> dict[str, int]:
    """Tasks waiting on the session's queues (Celery's Redis transport keeps each queue in a list)."""
    interactive, bulk = get_redis().pipeline().llen(interactive_queue(session)).llen(bulk_queue(session)).execute()
    return {"interactive": interactive, "bulk": bulk, "total": interactive + bulk}


def publish(task: str, args: list, queue: str, *, task_id: str | None = None, countdown: float | None = None,
            keep_result: bool = False, expires: float | None = None) -> str:
    """Queue `task(*args)` on `queue` (after `countdown` seconds; dropped if not started within
    `expires` seconds); -> the task id.

    The rows are the outcome of almost every task, so no result is kept unless asked: a kept
    result also makes the publishing process subscribe to the result's channel on Redis."""
    app = celery_for(current_settings())
    with app.producer_or_acquire() as producer:
        result = app.send_task(task, args=args, queue=queue, task_id=task_id, countdown=countdown,
                               ignore_result=not keep_result, producer=producer, retry_policy=_RETRY_POLICY,
                               expires=expires)
    return result.id


def publish_send(message_id, session: str, task_id: str | None = None, countdown: float | None = None) -> str:
    return publish(SEND_MESSAGE, [str(message_id)], interactive_queue(session), task_id=task_id, countdown=countdown)


def publish_bulk(job_id, session: str, chain: str, countdown: float | None = None) -> None:
    publish(RUN_BULK, [str(job_id), chain], bulk_queue(session), countdown=countdown)


def start_chain(job_id, session: str, countdown: float | None = None) -> str:
    """Make a new chain the only live one of a bulk job and publish its first step. A chain step
    whose token is no longer current stops, so a chain re-published by the sweeper (after Redis
    lost the first) never runs twice in parallel."""
    chain = uuid.uuid4().hex
    get_redis().set(Keys.bulk_chain(job_id), chain, ex=7 * 24 * 3600)
    publish_bulk(job_id, session, chain, countdown)
    return chain


def publish_mark_read(message_id, session: str) -> None:
    publish(MARK_READ, [str(message_id)], interactive_queue(session))


def publish_resolve_lids(session: str, expires: float | None = None) -> None:
    publish(RESOLVE_LIDS, [session], interactive_queue(session), expires=expires)


def publish_reconcile(message_id, session: str, countdown: float | None = None) -> None:
    publish(RECONCILE, [str(message_id)], interactive_queue(session), countdown=countdown)


def publish_check(job_id, session: str, countdown: float | None = None, batch: bool = False) -> str:
    """One step of a WhatsApp-existence check job; a batch runs on the bulk queue, behind nothing urgent."""
    queue = bulk_queue(session) if batch else interactive_queue(session)
    return publish(CHECK_STEP, [str(job_id)], queue, countdown=countdown)


def publish_sync_contacts(session: str, task_id: str | None = None) -> str:
    """Its result (how many contacts were synced) is what GET /contacts/sync/{taskId} reads."""
    return publish(SYNC_CONTACTS, [], interactive_queue(session), task_id=task_id, keep_result=True)


def publish_group_read(session: str, what: str, group_id: str | None, expires: float) -> str:
    """A group read whose result the API waits for (services/groups.py); dropped unless started in time."""
    return publish(GROUP_READ, [session, what, group_id], interactive_queue(session), keep_result=True,
                   expires=expires)


def publish_group_operation(operation_id, session: str, countdown: float | None = None) -> str:
    return publish(GROUP_OPERATION, [str(operation_id)], interactive_queue(session), countdown=countdown)


def publish_download_media(message_id, session: str) -> None:
    publish(DOWNLOAD_MEDIA, [str(message_id)], interactive_queue(session))


def publish_backup(session: str, expires: float | None = None) -> str:
    """The worker that drives the session owns its profile, so the backup runs there."""
    return publish(BACKUP_SESSION, [session], interactive_queue(session), expires=expires)


def publish_restore(session: str, backup_id) -> str:
    return publish(RESTORE_SESSION, [session, str(backup_id)], interactive_queue(session))
