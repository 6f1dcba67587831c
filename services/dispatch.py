"""Publishing Celery tasks by name, after commit, carrying ids only (never bodies or secrets).

Tasks are addressed by name so the API never imports the worker's modules. Each WhatsApp session
has two queues: `wa.<session>` for interactive work (single sends, reads, control-adjacent jobs) and
`wa.<session>.bulk` for bulk chains, so a single send never waits behind a long bulk.

`publish` writes Celery's task message (protocol 2, JSON) straight onto the queue's Redis list, the
list a worker consuming that queue reads. `celery_app.send_task` does the same in about 800 us of
CPU (it builds a Redis client per message), a third of the API's whole budget for one /send; this
takes about 200 us. tests/test_dispatch.py holds it equal to what send_task writes.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from celery import current_task

from core.celery_app import celery_app
from core.redis import get_redis

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
    interactive, bulk = get_redis().pipeline().llen(interactive_queue(session)).llen(bulk_queue(session)).execute()
    return {"interactive": interactive, "bulk": bulk, "total": interactive + bulk}


_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"
_NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def publish(task: str, args: list, queue: str, *, task_id: str | None = None, countdown: float | None = None,
            ignore_result: bool = False) -> str:
    """Queue `task(*args)` on `queue` (after `countdown` seconds); -> the task id."""
    task_id = task_id or str(uuid.uuid4())
    parent = current_task.request if current_task else None  # a task publishing its follow-up
    root_id = (parent.root_id or parent.id) if parent and parent.id else task_id
    eta = (datetime.now(timezone.utc) + timedelta(seconds=countdown)).isoformat() if countdown else None
    body = json.dumps([args, {}, _NO_WORKFLOW]).encode()
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": eta, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None],
            "root_id": root_id, "parent_id": parent.id if parent else None,
            "argsrepr": repr(args), "kwargsrepr": "{}", "origin": _ORIGIN, "ignore_result": ignore_result,
            "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
        },
        "properties": {
            "correlation_id": task_id, "reply_to": celery_app.thread_oid, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    }
    get_redis().lpush(queue, json.dumps(message))
    return task_id


def publish_send(message_id, session: str, task_id: str | None = None, countdown: float | None = None) -> str:
    # ignore_result: the row is the outcome, so no result is stored for the API's hottest task
    return publish(SEND_MESSAGE, [str(message_id)], interactive_queue(session), task_id=task_id,
                   countdown=countdown, ignore_result=True)


def publish_bulk(job_id, session: str, chain: str, countdown: float | None = None) -> None:
    publish(RUN_BULK, [str(job_id), chain], bulk_queue(session), countdown=countdown)


def publish_mark_read(message_id, session: str) -> None:
    publish(MARK_READ, [str(message_id)], interactive_queue(session))


def publish_reconcile(message_id, session: str, countdown: float | None = None) -> None:
    publish(RECONCILE, [str(message_id)], interactive_queue(session), countdown=countdown)


def publish_check(job_id, session: str, countdown: float | None = None, batch: bool = False) -> str:
    """One step of a WhatsApp-existence check job; a batch runs on the bulk queue, behind nothing urgent."""
    queue = bulk_queue(session) if batch else interactive_queue(session)
    return publish(CHECK_STEP, [str(job_id)], queue, countdown=countdown)


def publish_sync_contacts(session: str, task_id: str | None = None) -> str:
    return publish(SYNC_CONTACTS, [], interactive_queue(session), task_id=task_id)


def publish_download_media(message_id, session: str) -> None:
    publish(DOWNLOAD_MEDIA, [str(message_id)], interactive_queue(session))
