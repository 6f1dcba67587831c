"""GET /metrics: off without METRICS_TOKEN, 401 without the right bearer token, and, on a real
gateway (gunicorn with two workers, a Celery worker driving Chromium on the simulator, all in
multiprocess mode), the counters move with a real send whichever process did the work."""
from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
import requests
from flask_jwt_extended import create_access_token
from prometheus_client.parser import text_string_to_metric_families

from core.settings import SettingsError, load_settings
from models import User
from models.enums import MessageStatus, Role
from tests.test_alerts import session_name  # noqa: F401 - a fixture
from tests.benchmarks.harness import gunicorn
from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers
from tests.waiting import wait_until

TOKEN = "metrics-token-" + "x" * 20


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of an exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metrics_app(database):
    from web import create_app

    return create_app(load_settings(metrics_token=TOKEN))


def test_metrics_are_off_without_a_token(client):
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
    assert answer.json["error"]["type"] == "NOT_FOUND"


def test_metrics_need_the_metrics_token(metrics_app, db_session, admin):
    client = metrics_app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=admin).status_code == 401  # a user's JWT is not the scraper's token
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")


def test_requests_are_counted_by_route_template_never_by_path(metrics_app, db_session, pro):
    client = metrics_app.test_client()
    scrape = lambda: samples(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)  # noqa: E731
    route = "/api/whatsapp/messages/<uuid:message_id>"
    before = scrape()
    for _ in range(3):
        assert client.get(f"/api/whatsapp/messages/{uuid.uuid4()}", headers=pro).status_code == 404
    client.get("/no/such/path/3331234567")
    after = scrape()
    assert value(after, "wagateway_http_requests_total", method="GET", route=route, status="404") == \
        value(before, "wagateway_http_requests_total", method="GET", route=route, status="404") + 3
    assert value(after, "wagateway_http_request_duration_seconds_count", method="GET", route=route) >= 3
    assert value(after, "wagateway_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert not any("3331234567" in str(labels) for _name, labels in after)  # no path, no number in a label


def test_the_gauges_behind_the_alerts_queue_age_browser_memory_and_disk(
        metrics_app, committed_db, session_name, redis_client, tmp_path):
    from tasks.health import check_session
    from tests.test_alerts import _rows, settings

    client = metrics_app.test_client()
    def scrape() -> dict:
        return samples(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)

    _rows(committed_db, session_name, [MessageStatus.QUEUED.value], age=timedelta(minutes=30))
    # what a live worker's heartbeat writes (worker/monitor.py): the state and its browser's memory
    redis_client.hset(f"wa:{session_name}:state",
                      mapping={"state": "CONNECTED", "heartbeat": str(time.time()), "browser_mb": "412.5"})
    with settings(tokens_dir=str(tmp_path)):
        check_session()  # beat's health check measures the disk
    found = scrape()
    assert 30 * 60 <= value(found, "wagateway_queue_oldest_age_seconds", session=session_name) < 31 * 60
    assert value(found, "wagateway_browser_memory_bytes", session=session_name) == 412.5 * 1024 * 1024
    free = value(found, "wagateway_disk_free_bytes", store="tokens")
    assert abs(free - shutil.disk_usage(tmp_path).free) < 64 * 1024 * 1024  # the same disk, give or take
    redis_client.hset(f"wa:{session_name}:state", "heartbeat", str(time.time() - 60))  # the worker is gone
    assert ("wagateway_browser_memory_bytes", frozenset({("session", session_name)})) not in scrape()


def test_a_short_metrics_token_is_refused():
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings(metrics_token="short")
    with pytest.raises(SettingsError, match="PROMETHEUS_MULTIPROC_DIR"):
        load_settings(prometheus_multiproc_dir="/no/such/directory")


# -- the whole gateway, multiprocess ------------------------------------------------------------

@pytest.fixture
def gateway(database, simulator, tmp_path_factory, redis_client):
    """A linked worker and gunicorn with two workers, sharing one PROMETHEUS_MULTIPROC_DIR."""
    session = f"mx{uuid.uuid4().hex[:8]}"
    simulator.reset()
    tokens = tmp_path_factory.mktemp("metrics")
    multiproc = tokens / "prometheus"
    multiproc.mkdir()
    common = {"SESSION_NAME": session, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    workers = [launch_linked_worker(simulator, tokens, session, 0, redis_client, **common,
                                    SEND_MIN_INTERVAL_MS="100", SEND_JITTER_MS="0")]
    env = {**os.environ, **common, "METRICS_TOKEN": TOKEN, "RATE_LIMIT_DEFAULT": "100000/minute",
           "LOG_LEVEL": "WARNING"}
    log_path = tokens / "gunicorn.log"
    try:
        with gunicorn("web:create_app()", ["-w", "2", "--threads", "2", "-k", "gthread"], env, log_path) as url:
            yield url, workers[0], multiproc, session
    finally:
        stop_workers(workers, redis_client)
        forget_session(redis_client, session)


def _token(role: Role) -> str:
    from core.db import db
    from web import create_app

    user = User(email=f"metrics-{uuid.uuid4().hex[:8]}@example.com", password_hash="x", role=role.value)
    db.add(user)
    db.commit()
    with create_app().app_context():
        return create_access_token(f"user:{user.id}", additional_claims={"role": user.role})


def _pids_with_files(directory: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("*.db")}


@pytest.mark.browser
@pytest.mark.slow
def test_a_real_send_moves_the_counters_across_processes(gateway, simulator, committed_db):
    url, worker, multiproc, session = gateway
    headers = {"Authorization": f"Bearer {_token(Role.PROFESSIONAL)}"}
    scrape_headers = {"Authorization": f"Bearer {TOKEN}"}

    def scrape() -> dict:
        answer = requests.get(url + "/metrics", headers=scrape_headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return samples(answer.text)

    before = scrape()
    tag = uuid.uuid4().hex[:8]
    sent = 3
    for n in range(sent):  # a new connection each: gunicorn's two workers share them out
        answer = requests.post(url + "/api/whatsapp/send", headers={**headers, "Connection": "close"},
                               json={"phoneNumber": f"33312300{n:02d}", "message": f"{tag} {n}"}, timeout=10)
        assert answer.status_code == 202, answer.text

    # both gunicorn workers have served requests: each has its own files in the shared directory
    api_workers = _api_workers(url)
    assert len(api_workers) == 2
    probes = 0

    def both_workers_counted() -> bool:
        nonlocal probes
        if len(api_workers & _pids_with_files(multiproc)) >= 2:
            return True
        probes += 1
        requests.get(url + "/healthz", headers={"Connection": "close"}, timeout=10)
        return False

    wait_until(both_workers_counted, 60, "files of both gunicorn workers in PROMETHEUS_MULTIPROC_DIR")
    wait_until(lambda: worker.process.pid in _pids_with_files(multiproc), 60,
               "the Celery worker's own files there too")

    def arrivals() -> list[dict] | None:
        mine = [m for m in simulator.messages() if tag in (m.get("body") or "")]
        return mine if len(mine) == sent else None

    arrived = wait_until(arrivals, 60, "the messages arrived in the simulator")
    simulator.ack(arrived[0]["id"], 3)  # the phone read one

    def settled() -> dict | None:
        now = scrape()
        read = value(now, "wagateway_messages_total", session=session, status="READ", error_type="")
        sent_now = value(now, "wagateway_messages_total", session=session, status="SENT", error_type="")
        return now if read == 1 and sent_now == sent else None

    after = wait_until(settled, 60, "SENT and READ counted", interval=0.5)
    assert value(after, "wagateway_messages_total", session=session, status="QUEUED", error_type="") == sent
    # every /send is counted once, whichever gunicorn worker answered it
    send_route = dict(method="POST", route="/api/whatsapp/send", status="202")
    assert value(after, "wagateway_http_requests_total", **send_route) - \
        value(before, "wagateway_http_requests_total", **send_route) == sent
    health = dict(method="GET", route="/healthz", status="200")
    assert value(after, "wagateway_http_requests_total", **health) - \
        value(before, "wagateway_http_requests_total", **health) == probes
    # the worker's side: latency of each stage, and one pacing wait per send
    assert value(after, "wagateway_send_latency_seconds_count", stage="queued_to_sent") - \
        value(before, "wagateway_send_latency_seconds_count", stage="queued_to_sent") == sent
    assert value(after, "wagateway_send_latency_seconds_count", stage="sent_to_read") - \
        value(before, "wagateway_send_latency_seconds_count", stage="sent_to_read") == 1
    assert value(after, "wagateway_pacing_wait_seconds_count", session=session) == sent
    # the live gauges, read from Redis at the scrape
    assert value(after, "wagateway_session_state", session=session, state="CONNECTED") == 1
    assert value(after, "wagateway_session_connected", session=session) == 1
    assert value(after, "wagateway_queue_depth", session=session, queue="interactive") == 0
    assert value(after, "wagateway_queue_oldest_age_seconds", session=session) == 0
    assert value(after, "wagateway_browser_memory_bytes", session=session) > 20 * 1024 * 1024  # Chromium's


def _api_workers(url: str) -> set[int]:
    """The pids of gunicorn's workers: the processes on this bind whose parent is on it too."""
    bind = url.removeprefix("http://")
    on_bind = {p.pid: p for p in psutil.process_iter(["cmdline"]) if bind in (p.info["cmdline"] or [])}
    return {pid for pid, p in on_bind.items() if p.ppid() in on_bind}


@pytest.mark.browser
@pytest.mark.slow
def test_a_worker_serves_its_own_counters_on_metrics_port(start_worker, simulator, committed_client, pro):
    """What Prometheus scrapes from each worker container (deploy/prometheus/prometheus.yml)."""
    from core.settings import get_settings
    from tests.benchmarks.harness import free_port

    session, port = get_settings().session_name, free_port()  # the API's session: /send queues for it
    simulator.reset()
    worker = start_worker(session=session, METRICS_PORT=str(port), SEND_MIN_INTERVAL_MS="100",
                          SEND_JITTER_MS="0")
    worker.wait_state("QR_REQUIRED", timeout=40)
    simulator.scan()
    worker.wait_state("CONNECTED", timeout=30)
    answer = committed_client.post("/api/whatsapp/send", headers=pro,
                                   json={"phoneNumber": "3331230077", "message": "counted"})
    assert answer.status_code == 202, answer.json

    def counted() -> dict | None:
        found = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        sent = value(found, "wagateway_messages_total", session=session, status="SENT", error_type="")
        return found if sent == 1 else None

    found = worker.wait_for(counted, 30, "the send counted on the worker's own port")
    assert value(found, "wagateway_pacing_wait_seconds_count", session=session) == 1
    assert value(found, "wagateway_send_latency_seconds_count", stage="queued_to_sent") == 1
    # the API's side of the same message is the API's to count, the live gauges too
    assert value(found, "wagateway_messages_total", session=session, status="QUEUED", error_type="") == 0
    assert not any(name == "wagateway_session_state" for name, _labels in found)
