"""Prometheus metrics of every process (API, WhatsApp workers, beat), with prometheus-client.

Counters and histograms are incremented where things happen; what lives in Redis (session state,
queue depths) is read when /metrics is scraped (`GatewayCollector`), so no process keeps a gauge
that would go stale when it dies.

Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (before any process starts; the library reads
it when it is imported), every process writes its values to files there and /metrics sums the files
of all processes, so each gunicorn worker and each Celery process is counted, whichever answers the
scrape. Without it (development, one process) the process's own registry is served.

Conventions: units in names (`_seconds`, `_total`), label values from small fixed sets or the
session names an ADMIN created; never a phone number, a message id or free text.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter("wagateway_http_requests_total", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("wagateway_http_request_duration_seconds", "Time to answer an HTTP request",
                          ["method", "route"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
MESSAGES = Counter("wagateway_messages_total", "Outgoing messages reaching a status (FAILED by error type)",
                   ["session", "status", "error_type"])
RETRIES = Counter("wagateway_message_retries_total", "Send attempts put back in the queue, by error type",
                  ["session", "error_type"])
SEND_LATENCY = Histogram("wagateway_send_latency_seconds", "Time between two steps of an outgoing message",
                         ["stage"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400))
PACING_WAIT = Histogram("wagateway_pacing_wait_seconds", "Time a send waited for the session's pacing",
                        ["session"], buckets=(0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
PACING_DEFERRALS = Counter("wagateway_pacing_deferrals_total",
                           "Sends put off because a pacing cap (hourly, daily) or a long wait was reached",
                           ["session", "reason"])
WEBHOOK_ATTEMPTS = Counter("wagateway_webhook_attempts_total",
                           "Webhook delivery attempts by outcome: delivered, retry (failed, tried again "
                           "later), failed (given up, or the endpoint switched off)", ["outcome"])
WEBHOOK_DURATION = Histogram("wagateway_webhook_attempt_duration_seconds",
                             "Time a webhook receiver took to answer",
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
# measured by beat's health check in the `default` worker, the one that mounts the profiles' volume;
# of all processes' values the latest is served
DISK_FREE = Gauge("wagateway_disk_free_bytes",
                  "Free space on the file system of a store (tokens: the profiles)", ["store"],
                  multiprocess_mode="mostrecent")
BROWSER_RESTARTS = Counter("wagateway_browser_restarts_total", "Browser restarts of a session's worker",
                           ["session"])

# stages of SEND_LATENCY: from the row's creation (queued) to the send, and from the send to each ack
STAGES = {"SENT": ("queued_to_sent", "created_at", "sent_at"),
          "DELIVERED": ("sent_to_delivered", "sent_at", "delivered_at"),
          "READ": ("sent_to_read", "sent_at", "read_at")}

# the session states a worker publishes (worker/states.py), plus STOPPED for a session no worker drives
SESSION_STATES = ("STOPPED", "STARTING", "QR_REQUIRED", "PAIRING_CODE", "CONNECTED", "DISCONNECTED",
                  "LOGGED_OUT", "FAILED")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def count_status(session: str, status: str, error_type: str | None = None, number: int = 1) -> None:
    MESSAGES.labels(session, status, error_type or "").inc(number)


def count_webhook_attempt(status: str, latency_ms: int | None) -> None:
    """One delivery attempt ended with the delivery in `status` (services/webhooks.py)."""
    WEBHOOK_ATTEMPTS.labels({"DELIVERED": "delivered", "PENDING": "retry"}.get(status, "failed")).inc()
    if latency_ms is not None:
        WEBHOOK_DURATION.observe(latency_ms / 1000)


def observe_transition(message, status: str) -> None:
    """A message reached `status` (SENT, DELIVERED, READ, FAILED): count it, and time its stage."""
    count_status(message.session, status, message.error_type if status == "FAILED" else None)
    stage = STAGES.get(status)
    if stage:
        start, end = getattr(message, stage[1], None), getattr(message, stage[2], None)
        if start is not None and end is not None:
            SEND_LATENCY.labels(stage[0]).observe(max(0.0, (end - start).total_seconds()))


class GatewayCollector:
    """Read at each scrape from Redis and PostgreSQL: state, queue depth and age, browser memory
    of every session."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from core.db import db
        from core.settings import current_settings
        from services import dispatch
        from services.health import oldest_queued
        from services.session_state import read_state
        from services.sessions import list_sessions

        state = GaugeMetricFamily("wagateway_session_state", "1 for the state the session is in now",
                                  labels=["session", "state"])
        up = GaugeMetricFamily("wagateway_session_connected", "1 while the session is CONNECTED",
                               labels=["session"])
        heartbeat = GaugeMetricFamily("wagateway_session_heartbeat_age_seconds",
                                      "Seconds since the session's worker last reported", labels=["session"])
        depth = GaugeMetricFamily("wagateway_queue_depth", "Tasks waiting on a session's queue",
                                  labels=["session", "queue"])
        age = GaugeMetricFamily("wagateway_queue_oldest_age_seconds",
                                "Age of the session's oldest message due and still QUEUED (0: none)",
                                labels=["session"])
        memory = GaugeMetricFamily("wagateway_browser_memory_bytes",
                                   "Resident memory of the session's browser (Chromium and its renderers)",
                                   labels=["session"])
        try:
            names = [row.name for row in list_sessions(db, current_settings())]
            oldest = oldest_queued(db)
            db.rollback()  # a read: end the transaction, the scrape commits nothing
        except Exception as exc:  # the database away: serve what the processes counted anyway
            db.rollback()
            log.warning("metrics: sessions not readable (%s)", type(exc).__name__)
            names, oldest = [], {}
        clock = datetime.now(timezone.utc)
        for name in names:
            try:
                now = read_state(name)
                queues = dispatch.queue_depth(name)
            except Exception as exc:  # Redis away
                log.warning("metrics: state of session %s not readable (%s)", name, type(exc).__name__)
                continue
            for known in SESSION_STATES:
                state.add_metric([name, known], 1.0 if now["state"] == known else 0.0)
            up.add_metric([name], 1.0 if now["state"] == "CONNECTED" else 0.0)
            if now["heartbeat_age"] is not None:
                heartbeat.add_metric([name], now["heartbeat_age"])
            depth.add_metric([name, "interactive"], queues["interactive"])
            depth.add_metric([name, "bulk"], queues["bulk"])
            since = oldest.get(name)
            age.add_metric([name], max(0.0, (clock - since).total_seconds()) if since else 0.0)
            if now["browser_mb"] is not None:
                memory.add_metric([name], now["browser_mb"] * 1024 * 1024)
        yield from (state, up, heartbeat, depth, age, memory)


def render(accept: str | None) -> tuple[bytes, str]:
    """Every process's metrics plus the gateway's live gauges, in the format the scraper's Accept
    header asks for (Prometheus text, or OpenMetrics), as the library negotiates it."""
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(GatewayCollector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def serve_worker_metrics(port: int) -> None:
    """Serve this Celery worker's counters on `port` (prometheus-client's exporter, in a thread of
    the worker's main process), for Prometheus to scrape each worker container: processes in
    separate containers cannot share PROMETHEUS_MULTIPROC_DIR (each container numbers its processes
    from 1, and the files are named by pid). A prefork worker's children are summed from the
    container's own PROMETHEUS_MULTIPROC_DIR. No session or queue gauges here: the API's /metrics
    serves those. Unauthenticated: an internal port, never published."""
    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
    log.info("metrics of this worker on port %d", port)


class _ProcessRegistry:
    """The default registry (this process's metrics) as one collector of a per-scrape registry."""

    def collect(self):
        return REGISTRY.collect()



def api_latency(prefix: str = "/api/") -> dict:
    """The API's answer times as every process recorded them in HTTP_DURATION (since the processes
    started: the multiprocess files, or this process's registry), over the routes under `prefix`:
    requests, mean and the 50th and 95th percentiles in ms (interpolated inside the histogram's
    buckets, as Prometheus' histogram_quantile does; None without requests)."""
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    buckets: dict[float, float] = {}
    total = count = 0.0
    for family in registry.collect():
        if family.name != "wagateway_http_request_duration_seconds":
            continue
        for sample in family.samples:
            if not sample.labels.get("route", "").startswith(prefix):
                continue
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
    if not count:
        return {"requests": 0, "meanMs": None, "p50Ms": None, "p95Ms": None}
    bounds = sorted(buckets)
    return {"requests": int(count), "meanMs": 1000 * total / count,
            "p50Ms": _quantile(0.5, bounds, buckets), "p95Ms": _quantile(0.95, bounds, buckets)}


def _quantile(q: float, bounds: list[float], cumulative: dict[float, float]) -> float:
    """ms below which a share `q` of the observations fell (linear inside a bucket; the last
    finite bound when it falls in +Inf)."""
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if cumulative[bound] >= rank:
            if bound == float("inf"):
                return 1000 * lower
            inside = cumulative[bound] - below
            return 1000 * (lower + (bound - lower) * ((rank - below) / inside if inside else 0))
        lower, below = bound, cumulative[bound]
    return 1000 * lower
