"""The real app with its metrics switched off: the yardstick of `bench_send`'s metrics part, which
prints what the instrumentation (core/metrics.py, web/metrics.py) costs /send. Served by gunicorn as
`tests.benchmarks.unmetered_app:create_app()`. Bench-only: the gateway itself always counts."""
from __future__ import annotations

from flask import Flask

from core import metrics
from web import create_app as create_gateway
from web.metrics import _record, _start


def create_app() -> Flask:
    app = create_gateway()
    app.before_request_funcs[None].remove(_start)
    app.after_request_funcs[None].remove(_record)
    metrics.count_status = lambda *_args, **_kwargs: None  # the QUEUED count /send makes after its commit
    return app
