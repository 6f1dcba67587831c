"""Runtime settings (/api/settings): ADMINs read, SUPER_ADMINs change them, validated like the
environment, audited with the previous value, never a secret; and a change reaches the session's
worker within seconds, seen on the simulator's arrival log."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from core.settings import get_settings
from models import AuditLog, Message
from models.enums import Role
from services import runtime_settings
from services.sessions import pacing_for
from tests.waiting import wait_until


GAP = 2.45  # seconds: SEND_MIN_INTERVAL_MS=2500 as the simulator's clock sees it


def by_name(answer) -> dict[str, dict]:
    return {item["name"]: item for item in answer.json["data"]}


def test_admins_read_and_only_super_admins_change(client, auth_headers):
    admin, boss = auth_headers(Role.ADMIN), auth_headers(Role.SUPER_ADMIN)
    listed = client.get("/api/settings", headers=admin)
    assert listed.status_code == 200
    entry = by_name(listed)["SEND_MIN_INTERVAL_MS"]
    assert entry == {"name": "SEND_MIN_INTERVAL_MS", "value": get_settings().send_min_interval_ms,
                     "default": get_settings().send_min_interval_ms, "overridden": False,
                     "updatedAt": None, "updatedBy": None}
    assert client.patch("/api/settings", json={"SEND_MIN_INTERVAL_MS": 2000}, headers=admin).status_code == 403
    assert client.get("/api/settings", headers=auth_headers(Role.PROFESSIONAL)).status_code == 403
    changed = client.patch("/api/settings", json={"SEND_MIN_INTERVAL_MS": 2000, "ALERT_ERROR_RATE": 0.1},
                           headers=boss)
    assert changed.status_code == 200, changed.json
    now = by_name(changed)
    assert now["SEND_MIN_INTERVAL_MS"]["value"] == 2000 and now["SEND_MIN_INTERVAL_MS"]["overridden"]
    assert now["SEND_MIN_INTERVAL_MS"]["default"] == get_settings().send_min_interval_ms
    assert now["ALERT_ERROR_RATE"]["value"] == 0.1 and now["SEND_MIN_INTERVAL_MS"]["updatedBy"].startswith("user:")
    reset = client.patch("/api/settings", json={"SEND_MIN_INTERVAL_MS": None}, headers=boss)
    assert by_name(reset)["SEND_MIN_INTERVAL_MS"]["overridden"] is False
    assert by_name(reset)["SEND_MIN_INTERVAL_MS"]["value"] == get_settings().send_min_interval_ms


def test_changes_are_audited_with_the_previous_value(client, auth_headers, db_session):
    boss = auth_headers(Role.SUPER_ADMIN)
    default = get_settings().send_max_per_hour
    client.patch("/api/settings", json={"SEND_MAX_PER_HOUR": 100}, headers=boss)
    client.patch("/api/settings", json={"SEND_MAX_PER_HOUR": 50}, headers=boss)
    rows = db_session.scalars(select(AuditLog).where(AuditLog.action == "settings.update").order_by(AuditLog.id)).all()
    assert [row.details["changes"]["SEND_MAX_PER_HOUR"] for row in rows] == [
        {"previous": default, "value": 100}, {"previous": 100, "value": 50}]
    assert all(row.outcome == "success" and row.target == "settings" for row in rows)


@pytest.mark.parametrize("body", [
    {"SEND_MAX_PER_SECOND": 0},  # the environment's own check: at least 1
    {"ALERT_ERROR_RATE": 1.5},
    {"SEND_MIN_INTERVAL_MS": -1},
    {"SEND_MIN_INTERVAL_MS": "fast"},
    {"JWT_SECRET": "mine-now"},  # secrets never go to the table
    {"DATABASE_URL": "postgresql://elsewhere"},
])
def test_invalid_values_and_other_names_are_a_422(client, auth_headers, body):
    answer = client.patch("/api/settings", json=body, headers=auth_headers(Role.SUPER_ADMIN))
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["type"] == "VALIDATION_ERROR"
    assert not any(item["overridden"] for item in answer.json.get("data") or [])


def test_the_pacing_caps_in_force_follow_the_table_under_a_sessions_own(db_session):
    settings = get_settings()
    runtime_settings.update(db_session, settings, {"send_min_interval_ms": 4321, "send_jitter_ms": 7}, by=None)
    caps = pacing_for(db_session, "no-such-session", settings)
    assert (caps.min_interval_ms, caps.jitter_ms) == (4321, 7)
    assert caps.max_per_second == settings.send_max_per_second


@pytest.mark.browser
@pytest.mark.slow
def test_a_change_through_the_api_reaches_the_workers_pacing_within_seconds(
        linked_session, fresh_simulator, committed_client, committed_db, auth_headers):
    boss = auth_headers(Role.SUPER_ADMIN)
    name = linked_session("rt", headers=boss, SEND_MIN_INTERVAL_MS="100", SEND_JITTER_MS="0")
    tag = uuid.uuid4().hex[:8]
    sent = [0]

    def send() -> None:
        answer = committed_client.post(f"/api/whatsapp/send?session={name}", headers=boss,
                                       json={"phoneNumber": f"33300300{sent[0] % 100:02d}",
                                             "message": f"rt {tag} {sent[0]}"})
        assert answer.status_code == 202
        sent[0] += 1

    def arrivals() -> list[float]:
        return sorted(m["receivedAt"] for m in fresh_simulator.messages() if tag in (m.get("body") or ""))

    for _ in range(3):
        send()
    before = wait_until(lambda: (t := arrivals()) and len(t) == 3 and t, 60, "three quick sends")
    assert max(b - a for a, b in zip(before, before[1:])) < 1.0

    changed = committed_client.patch("/api/settings", headers=boss, json={"SEND_MIN_INTERVAL_MS": 2500})
    assert changed.status_code == 200
    changed_at = time.time()

    def keep_one_waiting() -> list[float]:
        """The arrivals so far, with one more message queued whenever none is waiting."""
        times = arrivals()
        if len(times) == sent[0]:
            send()
        return times

    def wide_gap() -> float | None:
        """The first arrival after the change that came SEND_MIN_INTERVAL_MS=2500 after the one before."""
        times = keep_one_waiting()
        wide = [b for a, b in zip(times, times[1:]) if b > changed_at and b - a >= GAP]
        return wide[0] if wide else None

    first_wide = wait_until(wide_gap, 40, "a gap of 2.5 s between arrivals", interval=0.2)
    # the pacer re-reads its caps every 10 s: the new interval holds within that (plus a send or two)
    print(f"SEND_MIN_INTERVAL_MS=2500 in force {first_wide - changed_at:.1f} s after the PATCH")
    assert first_wide - changed_at < 10 + 2 * 2.5 + 1, f"took {first_wide - changed_at:.1f} s"
    later = wait_until(lambda: len(t := [x for x in keep_one_waiting() if x >= first_wide]) >= 3 and t,
                       30, "two more sends after the first wide gap", interval=0.2)
    assert min(b - a for a, b in zip(later, later[1:])) >= GAP
    committed_client.patch("/api/settings", headers=boss, json={"SEND_MIN_INTERVAL_MS": None})


@pytest.mark.browser
@pytest.mark.slow
def test_the_retry_limit_changed_through_the_api_decides_the_workers_next_failure(
        linked_session, fresh_simulator, committed_client, committed_db, auth_headers):
    """SEND_MAX_ATTEMPTS=1 at /api/settings: a send WhatsApp refuses with a retryable error fails at
    once instead of being tried again (the courier reads the retry limits at each failed try)."""
    boss = auth_headers(Role.SUPER_ADMIN)
    name = linked_session("rl", headers=boss, SEND_MIN_INTERVAL_MS="100", SEND_JITTER_MS="0", RETRY_BASE_SECONDS="1")
    assert committed_client.patch("/api/settings", headers=boss, json={"SEND_MAX_ATTEMPTS": 1}).status_code == 200
    assert committed_client.patch("/api/settings", headers=boss, json={"SEND_MAX_ATTEMPTS": 0}).status_code == 422
    fresh_simulator.fail_next(1, "rate_limit")
    answer = committed_client.post(f"/api/whatsapp/send?session={name}", headers=boss,
                                   json={"phoneNumber": "3330060001", "message": "una volta sola"})
    message_id = uuid.UUID(answer.json["data"]["messageId"])

    def settled():
        committed_db.expire_all()
        message = committed_db.get(Message, message_id)
        return message if message.status in ("FAILED", "SENT", "DELIVERED", "READ") else None

    message = wait_until(settled, 60, "the send's outcome")
    assert (message.status, message.error_type, message.attempts) == ("FAILED", "RATE_LIMIT", 1)
    assert not [m for m in fresh_simulator.messages() if m.get("body") == "una volta sola"]
