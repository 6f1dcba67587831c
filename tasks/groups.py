"""Tasks of the WhatsApp worker about groups (services/groups.py, worker/groups.py). Ids only."""
from __future__ import annotations

import uuid

from core.celery_app import celery_app
from services import dispatch
from tasks.base import DbTask


def _groups():
    from worker.groups import GroupWorker
    from worker.runtime import driving_courier  # only a WhatsApp worker has one

    courier = driving_courier()
    return GroupWorker(courier.calls, courier.pacer)


@celery_app.task(name=dispatch.GROUP_READ, base=DbTask)
def read_groups(session_name: str, what: str, group_id: str | None = None) -> dict:
    """The answer the API waits for: {"ok": true, "value"} or {"ok": false, "code", "message"}."""
    return _groups().read(what, group_id)


@celery_app.task(name=dispatch.GROUP_OPERATION, base=DbTask)
def run_group_operation(operation_id: str) -> str:
    return _groups().run(uuid.UUID(operation_id))
