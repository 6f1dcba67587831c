"""HTTP metrics of the API: requests by route template and status, and their latency."""
from __future__ import annotations

import time

from flask import Flask, Response, g, request

from core.metrics import HTTP_DURATION, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def init_http_metrics(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_record)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        # the rule's template (`/api/whatsapp/messages/<uuid:message_id>`), never the path itself:
        # a path names ids and numbers; anything that matched no route counts as "unmatched"
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"  # a client may send any word
        HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
    return response
