"""Prometheus metrics (core/metrics.py) at /metrics, for the scraper's bearer token only.

Served on the API's own port, behind METRICS_TOKEN rather than a JWT: Prometheus sends one static
`Authorization: Bearer` header (its `authorization` scrape option) and cannot log in. Without a
METRICS_TOKEN the route answers 404, so nothing about the gateway is exposed by default.
"""
from __future__ import annotations

import hmac

from flask import Response, current_app, request

from core import metrics
from core.errors import GatewayError
from web.api.blueprint import Blueprint
from web.auth import public

blp = Blueprint("metrics", __name__, description="Prometheus metrics (METRICS_TOKEN)")


@blp.route("/metrics")
@public  # not a JWT: its own static token, checked below
@blp.doc(security=[{"metricsToken": []}])
@blp.response(200, {"type": "string"}, description="Prometheus text exposition format",
              content_type="text/plain; version=0.0.4")
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(404, response="NOT_FOUND")  # METRICS_TOKEN not set: the route is off
def scrape():
    """Every process's counters and histograms plus live session gauges; `Authorization: Bearer <METRICS_TOKEN>`."""
    expected = current_app.config["SETTINGS"].metrics_token
    if not expected:
        raise GatewayError(404, "metrics are off: set METRICS_TOKEN to serve them")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise GatewayError(401, "send Authorization: Bearer <METRICS_TOKEN>")
    body, content_type = metrics.render(request.headers.get("Accept"))
    return Response(body, content_type=content_type)
