"""gunicorn's settings file. gunicorn reads ./gunicorn.conf.py from its working directory, so every
gunicorn this project starts uses it: the Docker image (/app), `make demo` and the benchmarks (the
repository root). Workers, threads and the address stay on each command line."""
import gc


def post_worker_init(worker):
    # The objects the app creates while loading (~140,000: Flask, SQLAlchemy, marshmallow, Celery)
    # live as long as the worker. Frozen, they are no longer rescanned by every full collection,
    # which otherwise paused a worker for up to 70 ms under load: /send's worst latency spikes.
    gc.freeze()
