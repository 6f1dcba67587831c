"""Webhooks: the API (ADMIN and up, bad input is 4xx, SSRF refused), and deliveries by a real
Celery worker on the `webhooks` queue to a real loopback receiver that verifies every signature
with the `standardwebhooks` library - through failures, a 410, a killed worker and lost tasks."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import get_engine
from core.redis import get_redis
from core.settings import get_settings
from models import Event, WebhookDelivery, WebhookEndpoint
from models.enums import Role
from services import events, webhooks
from tests.waiting import wait_until
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
CELERY = ROOT / ".venv" / "bin" / "celery"
SESSION = get_settings().session_name
LOOPBACK = replace(get_settings(), webhook_allow_hosts="127.0.0.0/8", webhook_retry_base_ms=200,
                   webhook_read_timeout_seconds=3)
WORKER_ENV = {"WEBHOOK_ALLOW_HOSTS": "127.0.0.0/8", "WEBHOOK_RETRY_BASE_MS": "200",
              "WEBHOOK_READ_TIMEOUT_SECONDS": "3"}


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def loopback_app(database):
    from web import create_app

    return create_app(replace(LOOPBACK, rate_limit_default="1000000/minute"))


@pytest.fixture
def loopback_client(loopback_app, db_session):
    return loopback_app.test_client()


def _admin(app, make_user) -> dict[str, str]:
    from flask_jwt_extended import create_access_token

    user = make_user(Role.ADMIN)
    with app.app_context():
        return {"Authorization": f"Bearer {create_access_token(f'user:{user.id}')}"}


@pytest.mark.parametrize("body, field", [
    ({"url": "http://127.0.0.1:9/x", "eventTypes": ["message.sent"]}, "url"),  # loopback (SSRF)
    ({"url": "http://169.254.169.254/latest/meta-data", "eventTypes": ["message.sent"]}, "url"),  # metadata
    ({"url": "http://10.1.2.3/", "eventTypes": ["message.sent"]}, "url"),  # private
    ({"url": "ftp://example.com/", "eventTypes": ["message.sent"]}, "url"),
    ({"url": "http://user:pw@example.com/", "eventTypes": ["message.sent"]}, "url"),
    ({"url": "not a url", "eventTypes": ["message.sent"]}, "url"),
    ({"url": "https://example.com/", "eventTypes": ["message.nope"]}, "eventTypes"),
    ({"url": "https://example.com/", "eventTypes": []}, "eventTypes"),
    ({"url": "https://example.com/", "eventTypes": ["message.sent"], "description": "x" * 501}, "description"),
])
def test_bad_input_is_a_4xx_naming_the_field(client, admin, body, field):
    answer = client.post("/api/webhooks", json=body, headers=admin)
    assert answer.status_code == 422, answer.json
    assert field in str(answer.json["error"]["details"])


def test_create_shows_the_secret_once_then_change_rotate_and_delete(loopback_app, loopback_client, make_user,
                                                                    receiver):
    admin = _admin(loopback_app, make_user)
    created = loopback_client.post("/api/webhooks", headers=admin, json={
        "url": receiver.url, "eventTypes": ["message.sent", "message.sent", "job.finished"], "session": SESSION,
        "description": "CRM"})
    assert created.status_code == 201, created.json
    endpoint = created.json["data"]
    assert endpoint["secret"].startswith("whsec_") and endpoint["eventTypes"] == ["job.finished", "message.sent"]
    listed = loopback_client.get("/api/webhooks", headers=admin).json["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    changed = loopback_client.patch(f"/api/webhooks/{endpoint['id']}", headers=admin,
                                    json={"active": False, "eventTypes": ["alert.raised"]})
    assert changed.json["data"]["active"] is False and changed.json["data"]["eventTypes"] == ["alert.raised"]
    rotated = loopback_client.post(f"/api/webhooks/{endpoint['id']}/rotate-secret", headers=admin).json["data"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    assert rotated["previousSecretUntil"]
    assert loopback_client.delete(f"/api/webhooks/{endpoint['id']}", headers=admin).status_code == 200
    assert loopback_client.get(f"/api/webhooks/{endpoint['id']}", headers=admin).status_code == 404


def test_a_professional_may_not_manage_webhooks(client, pro):
    assert client.get("/api/webhooks", headers=pro).status_code == 403


def test_an_old_secret_still_verifies_during_the_grace_period(db_session):
    endpoint = WebhookEndpoint(url="https://example.com/", event_types=["alert.raised"], secret=webhooks.new_secret())
    old = endpoint.secret
    webhooks.rotate(endpoint, grace_hours=1)
    from datetime import datetime, timezone

    from standardwebhooks.webhooks import Webhook

    at = datetime.now(timezone.utc)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": webhooks.signatures(endpoint, "msg_1", at, '{"a":1}')}
    assert Webhook(old).verify('{"a":1}', headers) == {"a": 1}
    assert Webhook(endpoint.secret).verify('{"a":1}', headers) == {"a": 1}


# -- deliveries by a real worker ----------------------------------------------------------------
def start_webhook_worker(tmp: Path, name: str) -> subprocess.Popen:
    """A webhooks worker; its metrics go to files under `tmp/prometheus` (multiprocess mode)."""
    log = open(tmp / f"{name}.log", "w")
    (tmp / "prometheus").mkdir(exist_ok=True)
    return subprocess.Popen(
        [str(CELERY), "-A", "worker", "worker", "-Q", webhooks.QUEUE, "-P", "threads", "-c", "8", "-n",
         f"{name}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **WORKER_ENV,
                       "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")},
        stdout=log, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def webhook_worker(tmp_path, committed_db):
    started = []

    def start(name: str = "webhooks-a") -> subprocess.Popen:
        started.append(start_webhook_worker(tmp_path, name))
        return started[-1]

    yield start
    for process in started:
        stop_worker(process)
    get_redis().delete(webhooks.QUEUE)


def _endpoint(receiver: Receiver, types=("alert.raised",), session=None) -> WebhookEndpoint:
    with Session(bind=get_engine(), expire_on_commit=False) as writer:
        endpoint, secret = webhooks.create(writer, LOOPBACK, url=receiver.url, event_types=list(types),
                                           session_name=session, description=None, active=True, created_by=None)
        writer.commit()
        receiver.secret = secret
        return endpoint


def _alerts(count: int, text: str = "disk full") -> list[int]:
    with Session(bind=get_engine()) as writer:
        for n in range(count):
            events.alert(writer, SESSION, f"{text} {n}", "test")
        writer.commit()
        return list(writer.scalars(select(Event.id).where(Event.payload["message"].astext.like(f"{text}%"))))


def _deliveries(endpoint_id) -> list[WebhookDelivery]:
    with Session(bind=get_engine()) as reader:
        return list(reader.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)))


def worker_metric(tmp: Path, name: str, **labels: str) -> float:
    """A value the webhooks workers counted, as /metrics sums it from their files."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp / "prometheus"))
    return registry.get_sample_value(name, labels) or 0.0


def test_a_receiver_failing_at_first_gets_each_event_once_as_delivered(receiver, webhook_worker, tmp_path):
    receiver.fail_first = 3
    endpoint = _endpoint(receiver)
    webhook_worker()
    ids = _alerts(5)
    wait_until(lambda: all(d.status == "DELIVERED" for d in _deliveries(endpoint.id))
               and len(_deliveries(endpoint.id)) == 5, 60, "five deliveries DELIVERED")
    assert len(receiver.received) >= 5 + 3 and all(r.verified for r in receiver.received)
    answered_ok = [r for r in receiver.received[3:]]
    by_id = {}
    for got in answered_ok:
        by_id.setdefault(got.webhook_id, []).append(got.body["id"])
    assert sorted(event_id for [event_id] in by_id.values()) == sorted(ids)  # each exactly once as delivered
    failed_ids = {r.webhook_id for r in receiver.received[:3]}
    assert failed_ids <= set(by_id)  # a retry carries the same webhook-id as the attempt that failed
    for delivery in _deliveries(endpoint.id):
        assert delivery.last_status_code == 204 and delivery.latency_ms is not None
    body = receiver.received[-1].body
    assert set(body) == {"id", "type", "session", "timestamp", "data"} and body["type"] == "alert.raised"
    # /metrics counts each attempt by outcome, and times the receiver's answers
    wait_until(lambda: worker_metric(tmp_path, "wagateway_webhook_attempts_total", outcome="delivered") == 5,
               10, "the five delivered attempts counted (after their commit)")
    assert worker_metric(tmp_path, "wagateway_webhook_attempts_total", outcome="retry") == 3
    assert worker_metric(tmp_path, "wagateway_webhook_attempt_duration_seconds_count") == 8


def test_410_disables_the_endpoint_and_raises_an_alert(receiver, webhook_worker, tmp_path):
    receiver.status = 410
    endpoint = _endpoint(receiver)
    webhook_worker()
    _alerts(1, "gone")
    wait_until(lambda: [d.status for d in _deliveries(endpoint.id)] == ["FAILED"], 30, "the delivery FAILED")
    with Session(bind=get_engine()) as reader:
        row = reader.get(WebhookEndpoint, endpoint.id)
        assert not row.active and "410" in row.disabled_reason
        alert = reader.scalars(select(Event).where(Event.type == "alert.raised", Event.payload["endpointId"].astext
                                                   == str(endpoint.id))).one()
        assert alert.payload["source"] == "webhooks"
    assert len(receiver.received) == 1  # never called again
    wait_until(lambda: worker_metric(tmp_path, "wagateway_webhook_attempts_total", outcome="failed") == 1, 10,
               "the given-up attempt counted")


def test_a_killed_worker_and_lost_tasks_lose_nothing(receiver, webhook_worker):
    receiver.hang_seconds = 2  # the worker is killed while it waits for the answer
    endpoint = _endpoint(receiver)
    first = webhook_worker("webhooks-killed")
    ids = _alerts(3, "kill")
    wait_until(lambda: receiver.received, 30, "the first delivery reaching the receiver")
    first.send_signal(signal.SIGKILL)
    first.wait()
    # what Redis held for these deliveries is gone (a flush): the queue and the unacked tasks
    client = get_redis()
    client.delete(webhooks.QUEUE)
    for tag, raw in client.hgetall("unacked").items():
        if webhooks.DELIVER in raw:
            client.hdel("unacked", tag)
    receiver.hang_seconds = 0
    webhook_worker("webhooks-b")
    with Session(bind=get_engine()) as sweeper:  # what beat runs every WEBHOOK_SWEEP_SECONDS
        wait_until(lambda: (webhooks.sweep(sweeper), sweeper.commit(),
                            all(d.status == "DELIVERED" for d in _deliveries(endpoint.id)))[2], 60,
                   "every delivery DELIVERED after the sweeper", interval=1)
    delivered = {}
    for got in receiver.verified():
        delivered.setdefault(got.body["id"], set()).add(got.webhook_id)
    assert sorted(delivered) == sorted(ids)
    assert all(len(webhook_ids) == 1 for webhook_ids in delivered.values())  # duplicates share their id


def test_the_test_route_sends_a_signed_webhook_test(loopback_app, make_user, receiver, webhook_worker):
    admin = _admin(loopback_app, make_user)
    client = loopback_app.test_client()
    endpoint = _endpoint(receiver, types=("message.sent",))
    webhook_worker()
    answer = client.post(f"/api/webhooks/{endpoint.id}/test", headers=admin)
    assert answer.status_code == 202, answer.json
    got = wait_until(receiver.verified, 30, "the test event")
    assert got[0].body["type"] == "webhook.test" and got[0].webhook_id == answer.json["data"]["id"]
    wait_until(lambda: client.get(f"/api/webhooks/{endpoint.id}/deliveries", headers=admin).json["data"][0]["status"]
               == "DELIVERED", 30, "the test DELIVERED")
    retried = client.post(f"/api/webhooks/{endpoint.id}/deliveries/{got[0].webhook_id}/retry", headers=admin)
    assert retried.status_code == 202
    wait_until(lambda: len(receiver.verified()) == 2, 30, "the retried delivery")
    assert receiver.verified()[1].webhook_id == got[0].webhook_id
    assert client.post(f"/api/webhooks/{endpoint.id}/deliveries/{uuid.uuid4()}/retry",
                       headers=admin).status_code == 404


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver):
    receiver.status, receiver.secret = 302, webhooks.new_secret()
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=receiver.url, event_types=["alert.raised"],
                               secret=receiver.secret)
    attempt = webhooks.send(endpoint, message_id="msg_redirect", body='{"id": 1}', settings=LOOPBACK)
    assert attempt.status_code == 302 and not attempt.ok
    assert len(receiver.received) == 1 and receiver.received[0].verified  # one request, signed, not followed


def test_a_loopback_url_is_refused_at_delivery_time_without_the_allow_list(receiver):
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=receiver.url, event_types=["alert.raised"],
                               secret=webhooks.new_secret())
    attempt = webhooks.send(endpoint, message_id="msg_ssrf", body="{}", settings=get_settings())
    assert attempt.status_code is None and "loopback" in attempt.error and receiver.received == []


def test_an_endpoint_failing_for_longer_than_the_setting_is_disabled_with_an_alert(db_session):
    from datetime import timedelta

    settings = replace(LOOPBACK, webhook_disable_after_hours=1)
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url="https://example.com/", event_types=["alert.raised"],
                               session=SESSION, secret=webhooks.new_secret())
    db_session.add(endpoint)
    db_session.flush()
    delivery = WebhookDelivery(id=uuid.uuid4(), endpoint_id=endpoint.id, event_type="alert.raised", status="PENDING",
                               attempts=1, created_at=webhooks.now())
    db_session.add(delivery)
    db_session.flush()
    webhooks.record(db_session, settings, endpoint, delivery, webhooks.Attempt(503, "busy", None, 12))
    assert endpoint.active and delivery.status == "PENDING" and delivery.next_attempt_at > webhooks.now()
    endpoint.failing_since = webhooks.now() - timedelta(hours=2)  # failing, with no success, for two hours
    webhooks.record(db_session, settings, endpoint, delivery, webhooks.Attempt(None, None, "timed out", 10_000))
    assert not endpoint.active and delivery.status == "FAILED" and "failing since" in endpoint.disabled_reason
    alert = db_session.scalars(select(Event).where(Event.type == "alert.raised",
                                                   Event.payload["endpointId"].astext == str(endpoint.id))).one()
    assert alert.session == SESSION and alert.payload["source"] == "webhooks"


def test_recover_delivers_what_the_endpoint_missed_while_switched_off(loopback_app, make_user, receiver,
                                                                      webhook_worker):
    admin = _admin(loopback_app, make_user)
    client = loopback_app.test_client()
    since = webhooks.now().isoformat()
    receiver.status = 410  # the receiver says it is gone: the endpoint is switched off
    endpoint = _endpoint(receiver)
    webhook_worker()
    [refused] = _alerts(1, "before recovery")
    wait_until(lambda: [d.status for d in _deliveries(endpoint.id)] == ["FAILED"], 30, "the delivery FAILED")
    missed = _alerts(2, "while switched off")
    assert len(_deliveries(endpoint.id)) == 1  # a switched-off endpoint gets no rows
    recover = f"/api/webhooks/{endpoint.id}/recover"
    off = client.post(recover, json={"since": since}, headers=admin)
    assert off.status_code == 409 and "switch it on" in str(off.json), off.json
    future = client.post(recover, json={"since": "2999-01-01T00:00:00Z"}, headers=admin)
    assert future.status_code == 422 and "since" in str(future.json)
    receiver.status = 204
    assert client.patch(f"/api/webhooks/{endpoint.id}", json={"active": True}, headers=admin).status_code == 200
    answer = client.post(recover, json={"since": since}, headers=admin)
    assert answer.status_code == 202, answer.json
    # the alert saying the endpoint was disabled was logged while it was off: the endpoint wants it too
    assert answer.json["data"] == {"requeued": 1, "created": 3, "complete": True}
    wait_until(lambda: all(d.status == "DELIVERED" for d in _deliveries(endpoint.id))
               and len(_deliveries(endpoint.id)) == 4, 30, "every recovered delivery DELIVERED")
    delivered = [r for r in receiver.verified()[1:]]
    assert sorted(r.body["id"] for r in delivered if r.body["data"]["message"].startswith(("before", "while"))) \
        == sorted([refused, *missed])
    assert [r.webhook_id for r in delivered if r.body["id"] == refused] == [receiver.received[0].webhook_id]
    again = client.post(recover, json={"since": since}, headers=admin)
    assert again.json["data"] == {"requeued": 0, "created": 0, "complete": True}  # nothing is doubled
