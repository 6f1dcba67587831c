"""Alerts: beat's health check (the real task, on the real PostgreSQL and Redis) raises an alert
once per problem while it lasts, resolves it when the condition clears, publishes both on the
session's event channel, and ADMINs read them at /api/alerts."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update

import core.settings as settings_module
from core.settings import SettingsError, get_settings, load_settings, use_settings
from models import Alert, Message
from models.enums import MessageStatus, Role
from services import messages, sessions
from services.phones import check_number
from services.session_state import record_restart
from tasks.health import check_session
from tests.fixtures.worker import forget_session
from tests.waiting import wait_until


@pytest.fixture
def session_name(committed_db, redis_client):
    name = f"al{uuid.uuid4().hex[:8]}"
    sessions.create(committed_db, get_settings(), name=name, by=None)
    committed_db.commit()
    yield name
    forget_session(redis_client, name)


@contextmanager
def settings(**overrides):
    """The settings beat's task reads (current_settings outside a request), for one block."""
    previous = settings_module._process_settings
    use_settings(load_settings(**overrides))
    try:
        yield
    finally:
        use_settings(previous)


def open_alerts(db, subject: str) -> dict[str, Alert]:
    db.expire_all()
    return {a.kind: a for a in db.scalars(select(Alert).where(Alert.subject == subject, Alert.resolved_at.is_(None)))}


def connected(redis_client, name: str) -> None:
    """The session as a live worker reports it: CONNECTED, heartbeat now."""
    redis_client.hset(f"wa:{name}:state", mapping={
        "state": "CONNECTED", "since": datetime.now(timezone.utc).isoformat(), "heartbeat": str(time.time())})


def _rows(db, name: str, statuses: list[str], age: timedelta = timedelta(0)) -> list:
    phone = check_number("3331234567", "IT")
    rows = []
    for status in statuses:
        row = messages.new_outgoing(session_name=name, phone=phone, body="x", user_id=None)
        row.update(status=status, created_at=messages.now() - age)
        rows.append(row)
    db.execute(insert(Message.__table__), rows)
    db.commit()
    return [row["id"] for row in rows]


def test_a_stale_queue_raises_one_alert_while_it_lasts_then_it_is_resolved(committed_db, session_name, redis_client,
                                                                           events, committed_client, admin):
    recorder = events(session_name)
    connected(redis_client, session_name)
    [stuck] = _rows(committed_db, session_name, [MessageStatus.QUEUED.value], age=timedelta(minutes=30))
    with settings(alert_queue_age_minutes=15):
        check_session()
        first = open_alerts(committed_db, session_name)
        assert set(first) == {"queue_stale"}
        assert "30 minutes" in first["queue_stale"].message
        first_id, first_seen = first["queue_stale"].id, first["queue_stale"].last_seen_at

        connected(redis_client, session_name)
        check_session()  # still there: the same row, seen again, not a second alert
        again = open_alerts(committed_db, session_name)
        assert again["queue_stale"].id == first_id
        assert again["queue_stale"].last_seen_at > first_seen
        assert committed_db.scalar(select(Alert.id).where(Alert.subject == session_name).limit(2).offset(1)) is None

        listed = committed_client.get("/api/alerts", query_string={"subject": session_name}, headers=admin)
        assert listed.status_code == 200
        assert [(a["kind"], a["resolvedAt"]) for a in listed.json["data"]] == [("queue_stale", None)]

        committed_db.execute(update(Message).where(Message.id == stuck).values(status=MessageStatus.SENT.value))
        committed_db.commit()
        connected(redis_client, session_name)
        check_session()
    assert open_alerts(committed_db, session_name) == {}
    resolved = committed_client.get("/api/alerts", query_string={"subject": session_name, "state": "resolved"}, headers=admin)
    assert [(a["kind"], a["resolvedAt"] is not None) for a in resolved.json["data"]] == [("queue_stale", True)]
    assert committed_client.get("/api/alerts", query_string={"subject": session_name}, headers=admin).json["data"] == []
    # the event log has the raise and the resolution, once each (the stream and webhooks follow it)
    from models import Event

    logged = [(e.type, e.payload["kind"]) for e in committed_db.scalars(
        select(Event).where(Event.session == session_name, Event.type.like("alert.%")).order_by(Event.id))]
    assert logged == [("alert.raised", "queue_stale"), ("alert.resolved", "queue_stale")]
    # raised once and resolved once on the session's channel, however many checks saw it
    states = wait_until(lambda: (s := [e["status"] for e in recorder.events
                                       if e.get("type") == "alert" and e.get("kind") == "queue_stale"])
                        and len(s) == 2 and s, 10, "the two alert events")
    assert states == ["raised", "resolved"]


def test_a_session_never_connected_is_down(committed_db, session_name):
    check_session()
    found = open_alerts(committed_db, session_name)
    assert {"session_no_worker", "session_down"} <= set(found)
    assert "ever since" in found["session_down"].message


def test_a_session_disconnected_too_long_is_down_and_restarted(committed_db, session_name, redis_client):
    redis_client.hset(f"wa:{session_name}:state", mapping={
        "state": "DISCONNECTED", "heartbeat": str(time.time()),
        "since": (datetime.now(timezone.utc) - timedelta(minutes=20)).isoformat()})
    with settings(alert_disconnected_minutes=10):
        reports = check_session()
    assert reports[session_name]["action"] == "reconnect"
    assert {"session_stuck", "session_down"} <= set(open_alerts(committed_db, session_name))
    assert "reconnect" in redis_client.lindex(f"wa:{session_name}:control", 0)


def test_todays_error_rate_above_the_threshold(committed_db, session_name, redis_client):
    connected(redis_client, session_name)
    _rows(committed_db, session_name, [MessageStatus.SENT.value] * 17 + [MessageStatus.FAILED.value] * 3)
    with settings(alert_error_rate=0.2, alert_error_min_messages=20):
        check_session()
        assert "error_rate" not in open_alerts(committed_db, session_name)  # 15 % is under 20 %
    connected(redis_client, session_name)
    with settings(alert_error_rate=0.1, alert_error_min_messages=20):
        check_session()
    assert "3 of today's 20 messages failed" in open_alerts(committed_db, session_name)["error_rate"].message
    connected(redis_client, session_name)
    with settings(alert_error_rate=0.1, alert_error_min_messages=21):  # too few to judge: resolved
        check_session()
    assert "error_rate" not in open_alerts(committed_db, session_name)


def test_browser_restarts_per_hour(committed_db, session_name, redis_client):
    connected(redis_client, session_name)
    for _ in range(3):
        record_restart(session_name)
    with settings(alert_browser_restarts_per_hour=3):
        check_session()
        assert "browser_restarts" not in open_alerts(committed_db, session_name)
        record_restart(session_name)
        connected(redis_client, session_name)
        check_session()
    assert "restarted 4 times" in open_alerts(committed_db, session_name)["browser_restarts"].message


def test_uptime_over_the_last_day_below_the_threshold(committed_db, session_name, redis_client):
    # each check stands for HEALTH_CHECK_SECONDS of the session's time: 30 minutes here
    with settings(health_check_seconds=1800, alert_uptime_percent=95):
        for _ in range(2):
            connected(redis_client, session_name)
            check_session()
        assert "uptime_low" not in open_alerts(committed_db, session_name)  # an hour, all connected
        redis_client.hset(f"wa:{session_name}:state", "state", "DISCONNECTED")  # half an hour down
        check_session()
        alert = open_alerts(committed_db, session_name)["uptime_low"]
        assert alert.message.startswith("the session was CONNECTED 66.7 % of the last 2 hours (below 95 %)")
        assert alert.details["uptimePercent"] == 66.7
        checks = 2
        while "uptime_low" in open_alerts(committed_db, session_name):  # back up: 95 % after 9.5 hours up
            connected(redis_client, session_name)
            check_session()
            checks += 1
            assert checks <= 19
    assert checks == 19  # 18 of 19 half hours connected: 94.7 %; of 20: 95 %
    assert committed_db.get(Alert, alert.id).resolved_at is not None


def test_low_disk_under_tokens(committed_db, session_name, tmp_path):
    with settings(alert_disk_free_mb=10**9, tokens_dir=str(tmp_path / "tokens")):
        check_session()
    assert {"tokens"} <= {a.subject for a in committed_db.scalars(
        select(Alert).where(Alert.kind == "disk_low", Alert.resolved_at.is_(None)))}
    with settings(alert_disk_free_mb=0):
        check_session()
    committed_db.expire_all()
    assert committed_db.scalar(select(Alert).where(Alert.kind == "disk_low", Alert.resolved_at.is_(None))) is None


def test_alerts_are_for_admins(client, auth_headers):
    assert client.get("/api/alerts", headers=auth_headers(Role.PROFESSIONAL)).status_code == 403
    assert client.get("/api/alerts", headers=auth_headers(Role.ADMIN)).status_code == 200
    assert client.get("/api/alerts", query_string={"state": "closed"}, headers=auth_headers(Role.ADMIN)).status_code == 422


def test_alert_settings_are_validated():
    with pytest.raises(SettingsError, match="ALERT_ERROR_RATE"):
        load_settings(alert_error_rate=5.0)
    with pytest.raises(SettingsError, match="ALERT_ERROR_RATE"):
        load_settings(environ={"ALERT_ERROR_RATE": "lots"})
    assert load_settings(environ={"ALERT_ERROR_RATE": "0.02"}).alert_error_rate == 0.02
    with pytest.raises(SettingsError, match="ALERT_UPTIME_PERCENT"):
        load_settings(alert_uptime_percent=101)
