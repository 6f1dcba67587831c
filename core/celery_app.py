"""The Celery app, built from the same settings as the web app. Nothing runs at import time."""
from __future__ import annotations

from functools import lru_cache

from celery import Celery, signals

from core import logs
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
        worker_hijack_root_logger=False,  # the logging set-up is ours (`_configure_logging` below)
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


# -- logging, metrics and the request id --------------------------------------------------------

REQUEST_ID_HEADER = "request_id"  # the task message's header carrying the API request's id


@signals.setup_logging.connect
def _configure_logging(**_kwargs) -> None:
    """Workers and beat log as the API does (LOG_LEVEL, LOG_FORMAT, the mask): with a receiver on
    this signal Celery leaves the logging set-up to us, and `-l/--loglevel` is not used."""
    logs.configure_logging(celery_app.conf.gateway_settings)


@signals.worker_init.connect
def _serve_metrics(sender=None, **_kwargs) -> None:
    """METRICS_PORT: this worker's own metrics, for Prometheus (core/metrics.py)."""
    port = sender.app.conf.gateway_settings.metrics_port
    if port:
        from core.metrics import serve_worker_metrics

        serve_worker_metrics(port)


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **_kwargs) -> None:
    """Every task published while serving a request (or running a task that carries one) carries
    its request id, whoever publishes it: the worker's lines for that work show the same id."""
    request_id = logs.bound("request_id")
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _bind_task(task_id=None, task=None, **_kwargs) -> None:
    request = task.request
    request.log_token = logs.bind(task_id=task_id, task_name=task.name,
                                  request_id=getattr(request, REQUEST_ID_HEADER, None))


@signals.task_postrun.connect
def _unbind_task(task=None, **_kwargs) -> None:
    token = getattr(task.request, "log_token", None)
    if token is not None:
        logs.unbind(token)
