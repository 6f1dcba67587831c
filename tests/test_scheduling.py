"""Scheduled messages and campaigns, and beat's periodic jobs.

Recurrence is a pure function (checked across both daylight-saving changes); the API is checked
through the test client; dispatch against the real database; and at the end the whole path with a
real `celery beat`, a default-queue worker and a WhatsApp worker on the simulator."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from beat_schedule import build_schedule
from core.db import get_engine
from core.redis import get_redis
from core.settings import load_settings
from models import ErrorCounter, Message, ScheduledMessage, ScheduledRun
from models.enums import Role
from services import dispatch, scheduling
from services.send_rules import MAX_BROKER_DELAY_SECONDS
from services.recurrence import next_run, runs_between
from tests.fixtures.worker import CELERY, ROOT, forget_session, launch_linked_worker, main_browser_pid, stop_workers
from tests.waiting import wait_quiet, wait_until

ROME = ZoneInfo("Europe/Rome")
UTC = timezone.utc
_numbers = itertools.count(3331002001)


def number() -> str:
    return str(next(_numbers))


def local(*args) -> datetime:
    return datetime(*args, tzinfo=ROME)


# -- recurrence (pure) ----------------------------------------------------------------------------
def test_a_daily_run_in_the_missing_hour_is_shifted_forward_by_the_gap():
    runs = runs_between("30 2 * * *", "Europe/Rome", local(2026, 3, 27), local(2026, 3, 31))
    assert [r.astimezone(ROME).isoformat() for r in runs] == [
        "2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist on the spring-forward day
        "2026-03-30T02:30:00+02:00"]


def test_an_hourly_cron_runs_once_per_wall_clock_hour_across_the_fall_back():
    runs = runs_between("0 * * * *", "Europe/Rome", local(2026, 10, 25, 0, 30), local(2026, 10, 25, 5, 30))
    assert [r.astimezone(ROME).strftime("%H:%M%z") for r in runs] == [
        "01:00+0200", "02:00+0200", "03:00+0100", "04:00+0100", "05:00+0100"]  # 02:00 once, not twice
    assert all(b - a >= timedelta(hours=1) for a, b in zip(runs, runs[1:]))


def test_a_daily_cron_keeps_its_local_time_on_both_sides_of_a_change():
    before = next_run("0 9 * * *", "Europe/Rome", local(2026, 10, 24, 8))
    after = next_run("0 9 * * *", "Europe/Rome", before)
    assert before.astimezone(UTC).hour == 7 and after.astimezone(UTC).hour == 8
    assert before.astimezone(ROME).hour == after.astimezone(ROME).hour == 9


def test_the_beat_table_has_every_job_with_an_expiry_within_its_period():
    settings = load_settings({"ERROR_RESET_TIME": "03:15", "TIMEZONE": "Europe/Rome", "HEALTH_CHECK_SECONDS": "60"})
    table = build_schedule(settings)
    assert {entry["task"] for entry in table.values()} == {
        "tasks.health.check_session", "tasks.health.reset_error_counts", "tasks.scheduling.dispatch_due",
        "tasks.maintenance.sweep_outbox", "tasks.maintenance.purge_idempotency_keys",
        "tasks.maintenance.purge_qr_payloads", "tasks.backups.schedule_backups",
        "tasks.contacts.schedule_lid_resolution", "tasks.maintenance.purge_personal_data",
        "tasks.webhooks.sweep_deliveries", "tasks.webhooks.purge_events", "tasks.maintenance.purge_media"}
    for entry in table.values():
        assert entry["options"]["queue"] == "default"
        period = entry["schedule"]
        if isinstance(period, timedelta):
            assert entry["options"]["expires"] <= period.total_seconds()
    reset = table["reset-error-counts"]["schedule"]
    assert reset.hour == {3} and reset.minute == {15}
    assert table["dispatch-scheduled"]["schedule"] == timedelta(seconds=15)


# -- the API --------------------------------------------------------------------------------------
def soon(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(ROME).isoformat()




def test_create_list_get_update_and_cancel_a_one_off(client, pro):
    created = client.post("/api/whatsapp/scheduled", headers=pro,
                          json={"phoneNumber": "333 100 2000", "message": "ciao", "sendAt": soon()})
    assert created.status_code == 201, created.json
    schedule = created.json["data"]
    assert schedule["recipients"] == ["393331002000"] and schedule["status"] == "ACTIVE"
    assert schedule["nextRunAt"] and schedule["cron"] is None

    listed = client.get("/api/whatsapp/scheduled?status=ACTIVE&recipient=3331002000", headers=pro).json
    assert [s["id"] for s in listed["data"]] == [schedule["id"]]
    assert client.get("/api/whatsapp/scheduled?recipient=3339999999", headers=pro).json["data"] == []
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert client.get(f"/api/whatsapp/scheduled?from={later.replace('+', '%2B')}", headers=pro).json["data"] == []

    patched = client.patch(f"/api/whatsapp/scheduled/{schedule['id']}", headers=pro, json={"message": "ciao!"})
    assert patched.status_code == 200 and patched.json["data"]["message"] == "ciao!"
    recurring = client.put(f"/api/whatsapp/scheduled/{schedule['id']}", headers=pro, json={
        "phoneNumber": "3331002000", "message": "ogni giorno", "cron": "0 9 * * *", "timezone": "Europe/Rome",
        "maxRuns": 3})
    assert recurring.status_code == 200 and recurring.json["data"]["cron"] == "0 9 * * *"
    assert datetime.fromisoformat(recurring.json["data"]["nextRunAt"]).astimezone(ROME).hour == 9

    detail = client.get(f"/api/whatsapp/scheduled/{schedule['id']}", headers=pro).json["data"]
    assert detail["runs"] == [] and detail["maxRuns"] == 3

    cancelled = client.post(f"/api/whatsapp/scheduled/{schedule['id']}/cancel", headers=pro)
    assert cancelled.status_code == 200 and cancelled.json["data"]["status"] == "CANCELLED"
    again = client.post(f"/api/whatsapp/scheduled/{schedule['id']}/cancel", headers=pro)
    assert again.status_code == 409 and again.json["error"]["type"] == "CONFLICT"
    assert client.patch(f"/api/whatsapp/scheduled/{schedule['id']}", headers=pro,
                        json={"message": "x"}).status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"phoneNumber": "3331002000", "message": "x", "sendAt": "2030-01-01T09:00:00"}, "sendAt"),  # no offset
    ({"phoneNumber": "3331002000", "message": "x", "sendAt": "2020-01-01T09:00:00+01:00"}, "sendAt"),  # past
    ({"phoneNumber": "3331002000", "message": "x"}, "sendAt"),
    ({"phoneNumber": "3331002000", "message": "x", "cron": "61 * * * *", "timezone": "Europe/Rome"}, "cron"),
    ({"phoneNumber": "3331002000", "message": "x", "cron": "0 9 * * *", "timezone": "Europa/Roma"}, "timezone"),
    ({"phoneNumber": "3331002000", "message": "x", "cron": "0 9 * * *"}, "timezone"),
    ({"phoneNumber": "3331002000", "sendAt": "2030-01-01T09:00:00+01:00"}, "message"),
    ({"phoneNumber": "12", "message": "x", "sendAt": "2030-01-01T09:00:00+01:00"}, "phoneNumber"),
    ({"message": "x", "sendAt": "2030-01-01T09:00:00+01:00"}, "phoneNumber"),
    ({"phoneNumber": "3331002000", "templateId": str(uuid.uuid4()), "sendAt": "2030-01-01T09:00:00+01:00"},
     "templateId"),
])
def test_invalid_schedules_are_refused_with_the_field_named(client, pro, body, field):
    answer = client.post("/api/whatsapp/scheduled", headers=pro, json=body)
    assert 400 <= answer.status_code < 500 and answer.status_code != 403, answer.json
    assert answer.json["success"] is False
    if answer.status_code == 422 and answer.json["error"]["details"]:
        assert field in str(answer.json["error"]["details"]) or field == "templateId"


def test_a_campaign_needs_the_bulk_right(client, pro, admin):
    body = {"recipients": ["3331002001", "3331002002"], "message": "promo", "sendAt": soon()}
    assert client.post("/api/whatsapp/scheduled", headers=pro, json=body).status_code == 403
    created = client.post("/api/whatsapp/scheduled", headers=admin, json=body)
    assert created.status_code == 201 and len(created.json["data"]["recipients"]) == 2
    schedule_id = created.json["data"]["id"]
    assert client.patch(f"/api/whatsapp/scheduled/{schedule_id}", headers=pro, json={"message": "x"}).status_code == 403
    assert client.post(f"/api/whatsapp/scheduled/{schedule_id}/cancel", headers=pro).status_code == 403


# -- dispatch against the database ---------------------------------------------------------------
def make_schedule(db, *, due: datetime, recipients=None, cron=None, session="t-sched", **values) -> ScheduledMessage:
    schedule = ScheduledMessage(session=session, recipients=recipients or [f"39{number()}"], body="promemoria",
                                variables={}, send_at=None if cron else due, cron=cron, timezone="Europe/Rome",
                                run_count=0, next_run_at=due, status="ACTIVE", **values)
    db.add(schedule)
    db.flush()
    return schedule


def runs(db, schedule) -> list[ScheduledRun]:
    return list(db.query(ScheduledRun).filter_by(scheduled_message_id=schedule.id).order_by(ScheduledRun.due_at))


def test_a_run_missed_within_the_grace_period_is_sent_late_an_older_one_is_skipped(db_session, monkeypatch):
    published = []
    monkeypatch.setattr("services.dispatch.publish_send", lambda *a, **k: published.append(a))
    now = datetime.now(UTC)
    late = make_schedule(db_session, due=now - timedelta(seconds=100))
    lost = make_schedule(db_session, due=now - timedelta(seconds=1000))
    report = scheduling.dispatch_due(db_session, grace_seconds=300, country="IT", at=now)
    assert (report.sent, report.skipped, report.finished) == (1, 1, 2)

    [sent] = runs(db_session, late)
    assert sent.outcome == "SENT" and sent.message_id is not None
    message = db_session.get(Message, sent.message_id)
    assert message.status == "QUEUED" and message.scheduled_message_id == late.id
    [skipped] = runs(db_session, lost)
    assert skipped.outcome == "SKIPPED" and "grace period of 300 s" in skipped.reason
    assert late.status == lost.status == "DONE" and late.next_run_at is None
    assert db_session.query(Message).filter_by(scheduled_message_id=lost.id).count() == 0


def test_a_recurring_campaign_after_downtime_skips_the_old_runs_sends_the_recent_one_and_goes_on(
        db_session, monkeypatch):
    monkeypatch.setattr("services.dispatch.start_chain", lambda *a, **k: None)
    now = datetime(2026, 5, 4, 9, 0, 30, tzinfo=ROME)
    first = datetime(2026, 5, 1, 9, 0, tzinfo=ROME)
    schedule = make_schedule(db_session, due=first, cron="0 9 * * *", recipients=["393331002101", "393331002102"],
                             max_runs=2)
    scheduling.dispatch_due(db_session, grace_seconds=300, country="IT", at=now)
    outcomes = [(r.due_at.astimezone(ROME).day, r.outcome) for r in runs(db_session, schedule)]
    assert outcomes == [(1, "SKIPPED"), (2, "SKIPPED"), (3, "SKIPPED"), (4, "SENT")]
    sent = runs(db_session, schedule)[-1]
    assert sent.bulk_job_id is not None
    assert db_session.query(Message).filter_by(bulk_job_id=sent.bulk_job_id).count() == 2
    assert schedule.run_count == 1 and schedule.next_run_at == datetime(2026, 5, 5, 9, tzinfo=ROME)

    scheduling.dispatch_due(db_session, grace_seconds=300, country="IT", at=schedule.next_run_at)
    assert schedule.run_count == 2 and schedule.status == "DONE"  # maxRuns reached


def test_two_dispatchers_at_the_same_time_send_each_schedule_once(committed_db, monkeypatch):
    monkeypatch.setattr("services.dispatch.publish_send", lambda *a, **k: None)
    due = datetime.now(UTC) - timedelta(seconds=5)
    ids = [make_schedule(committed_db, due=due).id for _ in range(20)]
    committed_db.commit()
    committed_db.remove()
    barrier = threading.Barrier(2)

    def dispatcher():
        from sqlalchemy.orm import Session

        with Session(get_engine()) as session:
            barrier.wait()
            scheduling.dispatch_due(session, grace_seconds=300, country="IT")
            time.sleep(0.3)  # hold the row locks while the other one looks
            session.commit()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for schedule_id in ids:
        assert committed_db.query(Message).filter_by(scheduled_message_id=schedule_id).count() == 1
        assert committed_db.query(ScheduledRun).filter_by(scheduled_message_id=schedule_id).count() == 1


# -- with real beat, a default-queue worker and a WhatsApp worker ----------------------------------
SESSION = load_settings().session_name  # the API's session (per test run, see tests/conftest.py)
BEAT_ENV = {"SCHEDULE_DISPATCH_SECONDS": "1", "HEALTH_CHECK_SECONDS": "2", "HEALTH_STUCK_SECONDS": "30",
            "SCHEDULE_GRACE_SECONDS": "300", "SEND_MIN_INTERVAL_MS": "200", "SEND_JITTER_MS": "30",
            "CLEANUP_INTERVAL_SECONDS": "60", "SWEEPER_INTERVAL_SECONDS": "5",
            # a first retry of 6.4 to 9.6 s: longer than a countdown on the broker may be
            "RETRY_BASE_SECONDS": "8"}


def spawn(argv: list[str], log_path: Path, **env: str) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **BEAT_ENV, **env},
                                stdout=log, stderr=subprocess.STDOUT)


def beat_and_jobs(tmp: Path, beats: int = 1) -> list[subprocess.Popen]:
    processes = [spawn([str(CELERY), "-A", "worker", "worker", "-Q", "default", "-c", "2", "-n", "jobs@%h",
                        "--without-mingle", "--without-gossip", "-l", "INFO"], tmp / "jobs.log")]
    for index in range(beats):
        processes.append(spawn([str(CELERY), "-A", "worker", "beat", "-l", "INFO",
                                "-s", str(tmp / f"beat-{index}.schedule")], tmp / f"beat-{index}.log"))
    return processes


def dispatch_runs(tmp: Path) -> int:
    """How many due-message dispatches the default-queue worker has finished (from its log)."""
    log = (tmp / "jobs.log").read_text()
    return sum(1 for line in log.splitlines()
               if "tasks.scheduling.dispatch_due[" in line and "succeeded" in line)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(simulator, tmp_path_factory, app):
    """A linked WhatsApp worker whose Chromium can be made to fail to start (a wrapper that exits 1
    while a flag file exists), one default-queue worker and two beats (one too many on purpose)."""
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 300, "readMs": 600})
    tmp = tmp_path_factory.mktemp("beat")
    flag = tmp / "chromium-broken"
    wrapper = tmp / "chromium"
    wrapper.write_text(f"#!/bin/sh\n[ -e {flag} ] && exit 1\nexec {load_settings().chromium_path} \"$@\"\n")
    wrapper.chmod(0o755)
    tokens = tmp / "tokens"
    tokens.mkdir()
    workers = [launch_linked_worker(simulator, tokens, SESSION, 0, client, CHROMIUM_PATH=str(wrapper), **BEAT_ENV)]
    processes = beat_and_jobs(tmp, beats=2)
    yield simulator, workers[0], flag, tmp
    stop(processes)
    stop_workers(workers, client)



@pytest.mark.browser
@pytest.mark.slow
def test_a_one_off_is_sent_within_20_s_of_its_time_once_despite_two_beats(stack, committed_client, committed_db,
                                                                          auth_headers):
    sim, _worker, _flag, tmp = stack
    tag = uuid.uuid4().hex
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    created = committed_client.post("/api/whatsapp/scheduled", headers=auth_headers(Role.ADMIN), json={
        "phoneNumber": number(), "message": f"promemoria {tag}", "sendAt": send_at.isoformat()})
    assert created.status_code == 201
    [arrived] = wait_until(lambda: [m for m in sim.messages() if tag in (m.get("body") or "")], 40, "the message")
    assert arrived["receivedAt"] - send_at.timestamp() < 20
    assert arrived["receivedAt"] >= send_at.timestamp() - 1
    runs = dispatch_runs(tmp)  # then both beats get several more chances to send it again
    wait_until(lambda: dispatch_runs(tmp) >= runs + 4, 20, "four more dispatches of due messages")
    wait_until(lambda: dispatch.queue_depth(SESSION)["total"] == 0, 20, "the worker's queues to drain")
    tagged = wait_quiet(lambda: [m for m in sim.messages() if tag in (m.get("body") or "")], 1.0, 20,
                        "the arrival log to be quiet")
    assert len(tagged) == 1
    detail = committed_client.get(f"/api/whatsapp/scheduled/{created.json['data']['id']}",
                                  headers=auth_headers(Role.ADMIN)).json["data"]
    assert detail["status"] == "DONE" and [r["outcome"] for r in detail["runs"]] == ["SENT"]
    assert detail["runs"][0]["messages"][0]["status"] in ("SENT", "DELIVERED", "READ")


@pytest.mark.browser
@pytest.mark.slow
def test_the_reset_job_zeroes_the_counters(stack, committed_db):
    """Every session's counters, not only the default session's."""
    from core.celery_app import celery_app

    committed_db.add_all([ErrorCounter(session="support", error_type="RATE_LIMIT", count=4),
                          ErrorCounter(session="support", error_type="BLOCKED", count=2),
                          ErrorCounter(session="marketing", error_type="BLOCKED", count=1)])
    committed_db.commit()
    result = celery_app.send_task("tasks.health.reset_error_counts", queue="default")
    assert result.get(timeout=20) == 3
    committed_db.expire_all()
    assert {(c.session, c.error_type): c.count for c in committed_db.query(ErrorCounter)} == {
        ("support", "RATE_LIMIT"): 0, ("support", "BLOCKED"): 0, ("marketing", "BLOCKED"): 0}


@pytest.mark.browser
@pytest.mark.slow
def test_the_health_check_brings_back_a_killed_browser_that_could_not_restart(stack, events):
    sim, worker, flag, _tmp = stack
    recorder = events(SESSION)
    flag.touch()
    os.kill(main_browser_pid(worker.tokens_dir, SESSION), signal.SIGKILL)
    worker.wait_state("FAILED", timeout=30)
    time.sleep(8)  # the worker's own retries fail too and back off (2, 4, 8... s)
    flag.unlink()
    started = time.monotonic()
    worker.wait_state("CONNECTED", timeout=30)
    assert any(e.get("type") == "alert" and e.get("action") == "reconnect" for e in recorder.events)
    assert any(e.get("type") == "control" and e.get("command") == "reconnect" for e in recorder.events)
    assert time.monotonic() - started < 20


class BrokerLog:
    """Every task message pushed onto the session's queues, as Redis saw it (MONITOR), with the
    server's time of the push: what a countdown would have put on the broker, nothing missed."""

    def __init__(self, url: str, session: str):
        self.pushes: list[tuple[float, dict]] = []
        self._prefix = f"wa.{session}"
        self._monitor = redis.Redis.from_url(url, decode_responses=True).monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                command = self._monitor.next_command()
            except Exception:  # noqa: BLE001 - the connection was closed by close()
                return
            verb, _, rest = command["command"].partition(" ")
            key, _, payload = rest.partition(" ")
            if verb.upper() in ("LPUSH", "RPUSH") and key.startswith(self._prefix):
                self.pushes.append((command["time"], json.loads(payload)))

    def tasks(self, name: str) -> list[dict]:
        return [message["headers"] for _, message in self.pushes if message["headers"]["task"] == name]

    def longest_countdown(self) -> float:
        """Seconds between a push and its task's ETA, the longest seen (0 when none had an ETA)."""
        return max([datetime.fromisoformat(m["headers"]["eta"]).timestamp() - at
                    for at, m in self.pushes if m["headers"].get("eta")], default=0.0)

    def close(self) -> None:
        self._monitor.connection.disconnect()
        self._thread.join(timeout=5)


@pytest.mark.browser
@pytest.mark.slow
def test_a_retry_too_long_for_a_countdown_waits_in_postgresql_and_the_sweeper_sends_it(
        stack, committed_client, committed_db, auth_headers):
    sim, *_ = stack
    tag = uuid.uuid4().hex
    broker = BrokerLog(os.environ["REDIS_URL"], SESSION)
    try:
        sim.fail_next(1, "rate_limit")
        message_id = uuid.UUID(committed_client.post("/api/whatsapp/send", headers=auth_headers(Role.ADMIN), json={
            "phoneNumber": number(), "message": f"riprova {tag}"}).json["data"]["messageId"])

        def row() -> Message:
            committed_db.expire_all()
            return committed_db.get(Message, message_id)

        waiting = wait_until(lambda: (m := row()).status == "QUEUED" and m.error_type == "RATE_LIMIT" and m,
                             20, "the rate-limited first try")
        retry_at = waiting.not_before  # read now: the same object is refreshed below
        assert waiting.task_id is None  # no task on the broker for it: the row carries the wait
        assert retry_at > datetime.now(UTC) + timedelta(seconds=1)
        sent = wait_until(lambda: (m := row()).status in ("SENT", "DELIVERED", "READ") and m, 40, "the retry")
        [arrived] = [m for m in sim.messages() if tag in (m.get("body") or "")]
    finally:
        broker.close()

    assert sent.attempts == 2 and arrived["receivedAt"] >= retry_at.timestamp() - 1
    sends = broker.tasks("tasks.messages.send_message")
    assert [h["argsrepr"] for h in sends] == [repr([str(message_id)])] * 2  # the API's, then the sweeper's
    assert sends[1]["id"] == sent.task_id and sends[1]["eta"] is None
    assert broker.longest_countdown() <= MAX_BROKER_DELAY_SECONDS + 0.5
