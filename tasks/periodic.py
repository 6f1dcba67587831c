"""Periodic tasks: a DbTask that never overlaps itself (Indico's `locked_task`).

Beat may publish the next run while the last one is still going (a slow database, a long backlog of
due schedules), and a second beat started by mistake publishes everything twice. The lock is a Redis
key per task name, taken without waiting: a run that finds it taken does nothing and says so. The
key expires after `lock_seconds`, so a worker killed mid-run never blocks the job for good.
"""
from __future__ import annotations

import logging
from functools import wraps
from typing import Any, Callable

from redis.exceptions import LockError

from core.celery_app import celery_app
from core.redis import get_redis
from tasks.base import DbTask

log = logging.getLogger(__name__)
SKIPPED = "skipped: the previous run still holds the lock"


def lock_key(task_name: str) -> str:
    return f"lock:periodic:{task_name}"


def locked_task(name: str, *, lock_seconds: int = 600, **options: Any) -> Callable:
    """`@locked_task("tasks.x.y")`: a Celery task on the default queue whose runs never overlap."""

    def decorator(func: Callable) -> Any:
        @wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            lock = get_redis().lock(lock_key(name), timeout=lock_seconds, blocking=False)
            if not lock.acquire(blocking=False):
                log.info("%s %s", name, SKIPPED)
                return SKIPPED
            try:
                return func(*args, **kwargs)
            finally:
                try:
                    lock.release()
                except LockError:  # expired during a very long run: someone else may hold it now
                    log.warning("%s ran longer than its %s s lock", name, lock_seconds)

        return celery_app.task(name=name, base=DbTask, **options)(run)

    return decorator
