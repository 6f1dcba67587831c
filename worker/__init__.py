"""The WhatsApp worker: `celery -A worker worker -Q wa.<session> -P threads -c 1`.

`app` is the project's Celery app; importing `worker.runtime` connects the signals that start the
session's browser when the worker is ready and close it when the worker shuts down.
"""
import ctypes

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that contends for malloc an arena of its own (up to 8 per core),
    and freed memory stays in them: with the worker's threads (browser, monitor, controls, pool)
    that held about 48 MB per worker, measured (README "Benchmarks"). Called before any thread."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc: nothing to limit
        pass


limit_malloc_arenas()

from core.celery_app import celery_app as app  # noqa: E402 - after the arena limit
from worker import runtime  # noqa: E402,F401 - connects the worker signals

__all__ = ["app"]
