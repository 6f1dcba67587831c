"""The WhatsApp worker: `celery -A worker worker -Q wa.<session> -P threads -c 1`.

`app` is the project's Celery app; importing `worker.runtime` connects the signals that start the
session's browser when the worker is ready and close it when the worker shuts down.
"""
from core.celery_app import celery_app as app
from worker import runtime  # noqa: F401 - connects the worker signals

__all__ = ["app"]
