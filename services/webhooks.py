"""Webhook endpoints and the delivery of events to them (Standard Webhooks, at least once).

Deliveries are rows (one per event x endpoint, written with the event: services/events.py). A
task on the `webhooks` queue claims a row, sends it signed, and records the outcome; a failure
is retried with exponential backoff and jitter for WEBHOOK_RETRY_HOURS, its next time kept in the
row. The sweeper (beat) publishes every row that is due and has no task on its way, so a lost
task (Redis flushed, a worker killed mid-delivery) only delays a delivery.
"""
from __future__ import annotations

import base64
import logging
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import urllib3
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from core import metrics
from core.db import after_commit
from core.errors import GatewayError
from core.settings import Settings
from models import Event, WebhookDelivery, WebhookEndpoint
from services import dispatch, events, safe_fetch

log = logging.getLogger(__name__)

QUEUE = "webhooks"
DELIVER = "tasks.webhooks.deliver"
TEST_TYPE = "webhook.test"
PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
LEASE_MARGIN_SECONDS = 5  # a claim outlives the longest attempt (connect + read timeouts) by this
SWEEP_IDLE_SECONDS = 10  # a due row untouched this long has no task on its way (or lost it)
ON_BROKER_SECONDS = 30  # shorter retries ride on the broker as a countdown; longer ones wait here
EXCERPT_BYTES = 1024  # of a receiver's answer, kept on the delivery
PUBLISH_CHUNK = 20  # delivery ids per task
BACKOFF_MAX_SECONDS = 3600
RECOVER_LIMIT = 50_000  # deliveries one recovery call queues; the next call goes on where it stopped
URL_MAX_LENGTH = 2000


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


# -- safety -------------------------------------------------------------------------------------
def resolve(url: str, settings: Settings) -> tuple[str, str, int, str]:
    """-> (scheme, host, port, address to connect to) for a URL a webhook may call, else a 422: the
    one SSRF guard (services/safe_fetch.py), with WEBHOOK_ALLOW_HOSTS as its allow-list. The address
    is pinned: the request goes where the check looked (no DNS rebinding in between)."""
    target = safe_fetch.resolve(url, settings.webhook_allowed_networks, allow_setting="WEBHOOK_ALLOW_HOSTS")
    return target.scheme, target.host, target.port, target.address


# -- endpoints ----------------------------------------------------------------------------------
def create(session: Session, settings: Settings, *, url: str, event_types: list[str], session_name: str | None,
           description: str | None, active: bool, created_by: str | None) -> tuple[WebhookEndpoint, str]:
    """-> the endpoint and its secret (shown once: the row keeps it only to sign)."""
    resolve(url, settings)
    secret = new_secret()
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=url, event_types=sorted(set(event_types)),
                               session=session_name, description=description, active=active, secret=secret,
                               created_by=created_by)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def change(session: Session, settings: Settings, endpoint: WebhookEndpoint, values: dict) -> WebhookEndpoint:
    if "url" in values:
        resolve(values["url"], settings)
        endpoint.url = values["url"]
    if "event_types" in values:
        endpoint.event_types = sorted(set(values["event_types"]))
    for name in ("session", "description"):
        if name in values:
            setattr(endpoint, name, values[name])
    if "active" in values:
        endpoint.active = values["active"]
        if values["active"]:  # switched on again by a person: its failure record starts afresh
            endpoint.failing_since, endpoint.disabled_reason = None, None
    return endpoint


def rotate(endpoint: WebhookEndpoint, grace_hours: int) -> str:
    """A new secret; the old one keeps signing beside it (two signatures) for `grace_hours`."""
    endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
    endpoint.previous_secret_until = now() + timedelta(hours=grace_hours)
    return endpoint.secret


def retry(session: Session, delivery: WebhookDelivery) -> None:
    """Send again now (a delivered one too: the receiver gets the same webhook-id)."""
    delivery.status, delivery.next_attempt_at = PENDING, now()
    session.flush()
    after_commit(session, lambda: publish_deliveries([delivery.id]))


_RECOVER_FAILED = text("""
UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = now()
WHERE id IN (SELECT id FROM webhook_deliveries
             WHERE endpoint_id = :endpoint AND status = 'FAILED' AND event_id IS NOT NULL AND created_at >= :since
             ORDER BY created_at LIMIT :limit)
RETURNING id
""")
# the log's events the endpoint wants and never got a row for (written while it was switched off)
_RECOVER_MISSED = text("""
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at)
SELECT gen_random_uuid(), :endpoint, e.id, e.type, 'PENDING', 0, now(), now()
FROM events e
WHERE e.at >= :since AND e.type = ANY(:types) AND (CAST(:session AS text) IS NULL OR e.session = :session)
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = :endpoint AND d.event_id = e.id)
ORDER BY e.id LIMIT :limit
RETURNING id
""")


def recover(session: Session, endpoint: WebhookEndpoint, since: datetime,
            limit: int = RECOVER_LIMIT) -> tuple[int, int]:
    """Deliver again what the endpoint missed since `since`: its FAILED deliveries go back to
    PENDING (same webhook-id), and the logged events it wants that have no delivery (they came
    while it was switched off) get one. At most `limit` in all; calling again goes on, never
    doubles. -> (requeued, created)."""
    if not endpoint.active:
        raise GatewayError(409, "the endpoint is switched off: switch it on (PATCH active: true), then recover")
    params = {"endpoint": endpoint.id, "since": since, "limit": limit}
    requeued = list(session.execute(_RECOVER_FAILED, params).scalars())
    created = list(session.execute(_RECOVER_MISSED, {
        **params, "limit": limit - len(requeued), "types": list(endpoint.event_types),
        "session": endpoint.session}).scalars()) if len(requeued) < limit else []
    ids = requeued + created
    after_commit(session, lambda: publish_deliveries(ids))
    return len(requeued), len(created)


def test(session: Session, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A signed `webhook.test` delivery, sent like any other (whatever the endpoint's types)."""
    delivery = WebhookDelivery(id=uuid.uuid4(), endpoint_id=endpoint.id, event_type=TEST_TYPE,
                               payload={"endpointId": str(endpoint.id), "message": "a test from the gateway"},
                               status=PENDING, attempts=0, next_attempt_at=now(), created_at=now())
    session.add(delivery)
    session.flush()
    after_commit(session, lambda: publish_deliveries([delivery.id]))
    return delivery


# -- publishing ---------------------------------------------------------------------------------
def publish_deliveries(ids, countdown: float | None = None) -> None:
    ids = [str(i) for i in ids]
    for start in range(0, len(ids), PUBLISH_CHUNK):
        try:
            dispatch.publish(DELIVER, [ids[start:start + PUBLISH_CHUNK]], QUEUE, countdown=countdown)
        except dispatch.PUBLISH_ERRORS as exc:
            log.warning("could not publish webhook deliveries (%s); the sweeper will", exc)
            return


def sweep(session: Session, limit: int = 5000) -> int:
    """Publish the due deliveries nobody is sending (their task lost, or a retry kept here)."""
    ids = list(session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == PENDING,
               WebhookDelivery.next_attempt_at <= now() - timedelta(seconds=SWEEP_IDLE_SECONDS))
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
    if ids:  # pushed forward, so the next sweep does not publish them again while they wait
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                        .values(next_attempt_at=now()), execution_options={"synchronize_session": False})
        after_commit(session, lambda: publish_deliveries(ids))
    return len(ids)


# -- sending ------------------------------------------------------------------------------------
@dataclass
class Attempt:
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    latency_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver(session: Session, settings: Settings, delivery_ids: list) -> dict[str, str]:
    """Claim the due ones of `delivery_ids` (one statement, committed: a second task for them does
    nothing while this one sends), then send each and commit its outcome on its own, like the
    courier commits a send (worker/delivery.py). -> each id's status ('skipped': not due, or
    claimed by another task)."""
    lease = settings.webhook_connect_timeout_seconds + settings.webhook_read_timeout_seconds + LEASE_MARGIN_SECONDS
    claimed = session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == PENDING,
               WebhookDelivery.next_attempt_at <= func.now() + timedelta(seconds=1))
        .values(attempts=WebhookDelivery.attempts + 1, last_attempt_at=func.now(),
                next_attempt_at=func.now() + timedelta(seconds=lease))
        .returning(WebhookDelivery), execution_options={"populate_existing": True}).all()
    session.commit()
    outcomes = {str(i): "skipped" for i in delivery_ids}
    if not claimed:
        return outcomes
    endpoints = {e.id: e for e in session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.id.in_({d.endpoint_id for d in claimed})))}
    logged = {e.id: e for e in session.scalars(select(Event).where(
        Event.id.in_([d.event_id for d in claimed if d.event_id is not None])))}
    for delivery in claimed:
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None or (not endpoint.active and delivery.event_type != TEST_TYPE):
            delivery.status, delivery.last_error = FAILED, "the endpoint is switched off"
        elif delivery.event_id is not None and delivery.event_id not in logged:
            delivery.status, delivery.last_error = FAILED, "the event was purged from the log before delivery"
        else:
            attempt = send(endpoint, message_id=str(delivery.id), body=body_of(delivery, logged.get(delivery.event_id)),
                           settings=settings)
            record(session, settings, endpoint, delivery, attempt)
        session.commit()
        outcomes[str(delivery.id)] = delivery.status
    return outcomes


def body_of(delivery: WebhookDelivery, event: Event | None) -> str:
    """The envelope of the delivery's event (a test delivery carries its own payload)."""
    if event is None:
        return events.LoggedEvent(0, delivery.event_type, None, delivery.created_at, delivery.payload).wire()
    return events.LoggedEvent(event.id, event.type, event.session, event.at, event.payload).wire()


def signatures(endpoint: WebhookEndpoint, message_id: str, at: datetime, body: str) -> str:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now():
        keys.append(endpoint.previous_secret)
    return " ".join(Webhook(key).sign(message_id, at, body) for key in keys)


_pools: dict[tuple, urllib3.connectionpool.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(scheme: str, host: str, port: int, address: str, settings: Settings):
    """Kept-alive connections per receiver, to the address the safety check resolved."""
    key = (scheme, host, port, address)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            timeout = urllib3.Timeout(connect=settings.webhook_connect_timeout_seconds,
                                      read=settings.webhook_read_timeout_seconds)
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, maxsize=8, retries=False,
                                                   server_hostname=host, assert_hostname=host)
            else:
                pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, maxsize=8, retries=False)
            _pools[key] = pool
        return pool


def send(endpoint: WebhookEndpoint, *, message_id: str, body: str, settings: Settings) -> Attempt:
    """One signed POST: no redirects followed, timeouts on connect and read, the answer read up to
    EXCERPT_BYTES."""
    started = time.monotonic()
    at = now()
    try:
        scheme, host, port, address = resolve(endpoint.url, settings)
        parts = urlsplit(endpoint.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json", "User-Agent": "wagateway-webhooks/1",
                   "Host": host if port in (80, 443) else f"{host}:{port}",
                   "webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": signatures(endpoint, message_id, at, body)}
        response = _pool(scheme, host, port, address, settings).urlopen(
            "POST", path, body=body.encode(), headers=headers, redirect=False, preload_content=False,
            assert_same_host=False)
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=False)
        finally:
            if response.length_remaining:  # more than we read: the connection cannot be reused
                response.close()
            response.release_conn()
        return Attempt(response.status, excerpt.decode("utf-8", "replace"), None, _ms(started))
    except GatewayError as exc:
        return Attempt(None, None, exc.message, _ms(started))
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Attempt(None, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def backoff(attempts: int, base_seconds: float) -> float:
    """Exponential (WEBHOOK_RETRY_BASE_MS doubling, at most an hour) with jitter of +-50%:
    receivers coming back are not hit by every retry at once. From 5 s: about 30 tries in a day."""
    delay = min(BACKOFF_MAX_SECONDS, base_seconds * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.5)


def record(session: Session, settings: Settings, endpoint: WebhookEndpoint, delivery: WebhookDelivery,
           attempt: Attempt) -> None:
    _record(session, settings, endpoint, delivery, attempt)
    status = delivery.status  # read now: the row is expired once committed
    after_commit(session, lambda: metrics.count_webhook_attempt(status, attempt.latency_ms))


def _record(session: Session, settings: Settings, endpoint: WebhookEndpoint, delivery: WebhookDelivery,
            attempt: Attempt) -> None:
    at = now()
    delivery.last_status_code, delivery.last_response = attempt.status_code, attempt.excerpt
    delivery.last_error, delivery.latency_ms = attempt.error, attempt.latency_ms
    if attempt.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, at, None
        endpoint.failing_since = None
        return
    if attempt.status_code == 410:  # the receiver says it is gone for good
        delivery.status, delivery.next_attempt_at = FAILED, None
        _disable(session, endpoint, f"the receiver answered 410 Gone on {at.isoformat()}")
        return
    endpoint.failing_since = endpoint.failing_since or at
    if at - endpoint.failing_since > timedelta(hours=settings.webhook_disable_after_hours):
        delivery.status, delivery.next_attempt_at = FAILED, None
        _disable(session, endpoint, f"failing since {endpoint.failing_since.isoformat()}")
        return
    if at - delivery.created_at > timedelta(hours=settings.webhook_retry_hours):
        delivery.status, delivery.next_attempt_at = FAILED, None  # given up
        return
    delay = backoff(delivery.attempts, settings.webhook_retry_base_ms / 1000)
    delivery.next_attempt_at = at + timedelta(seconds=delay)
    if delay <= ON_BROKER_SECONDS:
        after_commit(session, lambda: publish_deliveries([delivery.id], countdown=delay))


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    if not endpoint.active:
        return
    endpoint.active, endpoint.disabled_reason = False, reason
    events.alert(session, endpoint.session, f"webhook endpoint {endpoint.id} disabled: {reason}", "webhooks",
                 endpointId=str(endpoint.id), url=endpoint.url)
