"""gunicorn's settings file. gunicorn reads ./gunicorn.conf.py from its working directory, so every
gunicorn this project starts uses it: the Docker image (/app), `make demo` and the benchmarks (the
repository root). GUNICORN_CMD_ARGS overrides the values here, and command-line flags override both
(`make demo` and the benchmarks set their own workers and threads)."""
import gc

from gunicorn.glogging import Logger

# The image's defaults: safe on unknown hardware and for the slow endpoints (statistics, exports).
# On a small host the benchmark's settings serve /send faster (README "Benchmarks"), e.g.
# GUNICORN_CMD_ARGS="-w 3 --threads 1 --worker-connections 6".
# A request with `Prefer: wait=N` holds one thread while it waits (blocked on an Event: no CPU, no
# GIL, no database connection): 64 threads let each worker hold up to 60 waiting requests and
# still serve others on 4 (web/prefer_wait.py keeps that reserve whatever `threads` is). Room for
# more than a fair share each: a worker accepts whatever connection it can, so 100 waiting
# requests land unevenly (seen: more than 28 on one of 4 workers, with 32 threads).
workers = 4
threads = 64
worker_class = "gthread"


class GatewayLogger(Logger):
    """gunicorn's own lines (its error log; the access log when `--access-logfile` is set) in the
    gateway's format and level: LOG_FORMAT, LOG_LEVEL and the mask, as every other process
    (core/logs.py). In JSON an access line names its fields and carries the request id."""

    def setup(self, cfg):
        super().setup(cfg)
        from core.logs import style
        from core.settings import get_settings

        settings = get_settings()
        self.error_log.setLevel(settings.log_level.upper())
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            style(handler, settings, own=getattr(handler, "_gunicorn", False))


logger_class = GatewayLogger


def post_worker_init(worker):
    # how many requests may wait with `Prefer: wait` in this worker: its threads less a reserve
    from web import prefer_wait

    prefer_wait.server_threads = worker.cfg.threads
    # The objects the app creates while loading (~140,000: Flask, SQLAlchemy, marshmallow, Celery)
    # live as long as the worker. Frozen, they are no longer rescanned by every full collection,
    # which otherwise paused a worker for up to 70 ms under load: /send's worst latency spikes.
    gc.freeze()


def child_exit(server, worker):
    # Multiprocess metrics (core/metrics.py): drop the live-gauge files of a worker that is gone.
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
