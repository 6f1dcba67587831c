"""The Celery app, built from the same settings as the web app. Nothing runs at import time."""
from __future__ import annotations

from functools import lru_cache

from celery import Celery

from core.settings import Settings, get_settings

from beat_schedule import DEFAULT_QUEUE  # noqa: E402 - one name for the default queue


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("wagateway", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        gateway_settings=settings,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Above the longest task (a send waits at most for pacing plus the browser timeout),
        # so Redis never redelivers a task that is still running.
        broker_transport_options={"visibility_timeout": 3600},
        result_expires=24 * 3600,
        task_default_queue=DEFAULT_QUEUE,
        task_track_started=True,
        worker_hijack_root_logger=False,
        timezone=settings.timezone,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        imports=("tasks",),
    )
    from beat_schedule import build_schedule  # a table of names and numbers: no work at import

    app.conf.beat_schedule = build_schedule(settings)
    # what the worker process reaches PostgreSQL and Redis with (worker/runtime.py reads it back)
    app.conf.gateway_settings = settings
    return app


celery_app = make_celery()  # the app tasks register on (`@celery_app.task`)


@lru_cache(maxsize=8)
def celery_for(settings: Settings) -> Celery:
    """The Celery app that publishes for `settings` (another app's broker in a test process)."""
    return celery_app if settings == celery_app.conf.gateway_settings else make_celery(settings)
