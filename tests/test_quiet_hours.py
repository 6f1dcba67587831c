"""Quiet hours per session: bulk and campaign messages wait out the daily window; single sends do
not (seen on the simulator's arrival log with a real worker)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from models import Message
from services import outbox
from services.quiet_hours import seconds_left
from tests.waiting import wait_until


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 30, hour, minute, tzinfo=timezone.utc)


def test_the_window_across_midnight_and_within_a_day():
    assert seconds_left("21:00-08:00", "UTC", at(22)) == 10 * 3600
    assert seconds_left("21:00-08:00", "UTC", at(7, 30)) == 1800
    assert seconds_left("21:00-08:00", "UTC", at(8)) == 0
    assert seconds_left("21:00-08:00", "UTC", at(12)) == 0
    assert seconds_left("12:00-14:00", "UTC", at(13)) == 3600
    assert seconds_left("12:00-14:00", "UTC", at(20)) == 0
    # the session's time zone: 21:00 in Rome is 20:00 UTC in winter
    assert seconds_left("21:00-08:00", "Europe/Rome", at(20, 30)) == 11 * 3600 - 1800
    assert seconds_left(None, "UTC", at(22)) == 0


@pytest.mark.parametrize("body", [{"quietHours": "21-8"}, {"quietHours": "25:00-08:00"},
                                  {"quietHours": "08:00-08:00"}, {"quietTimezone": "Mars/Olympus"}])
def test_bad_quiet_hours_are_a_422(client, admin, body):
    answer = client.post("/api/sessions", headers=admin, json={"name": f"q{uuid.uuid4().hex[:8]}", **body})
    assert answer.status_code == 422, answer.json


def test_quiet_hours_are_shown_and_reset(client, admin):
    name = f"q{uuid.uuid4().hex[:8]}"
    created = client.post("/api/sessions", headers=admin, json={"name": name, "quietHours": "21:00-08:00",
                                                                "quietTimezone": "Europe/Rome"})
    assert created.status_code == 201
    assert (created.json["data"]["quietHours"], created.json["data"]["quietTimezone"]) == ("21:00-08:00", "Europe/Rome")
    assert created.json["data"]["quietHoursHoldSingles"] is False  # single sends go by default
    changed = client.patch(f"/api/sessions/{name}", headers=admin, json={"quietHours": None})
    assert changed.status_code == 200 and changed.json["data"]["quietHours"] is None
    held = client.patch(f"/api/sessions/{name}", headers=admin, json={"quietHoursHoldSingles": True})
    assert held.status_code == 200 and held.json["data"]["quietHoursHoldSingles"] is True


@pytest.mark.browser
@pytest.mark.slow
def test_a_bulk_waits_out_the_quiet_hours_while_a_single_send_goes(
        linked_session, fresh_simulator, committed_client, committed_db, admin):
    now = datetime.now(timezone.utc)
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"  # now is inside, in UTC
    name = linked_session("q", fields={"quietHours": window, "quietTimezone": "UTC", "sendMinIntervalMs": 100,
                                       "sendJitterMs": 0})
    tag = uuid.uuid4().hex[:8]
    bulk = committed_client.post(f"/api/whatsapp/send-bulk?session={name}", headers=admin, json={
        "recipients": ["3330040001", "3330040002"], "message": f"bulk {tag}"})
    assert bulk.status_code == 202
    job_id = bulk.json["data"]["jobId"]

    def held() -> list[Message]:
        committed_db.expire_all()
        rows = committed_db.query(Message).filter(Message.bulk_job_id == job_id).all()
        return rows if all(r.status == "QUEUED" and r.not_before and "quiet hours" in (r.error_message or "")
                           for r in rows) else None

    rows = wait_until(held, 60, "the bulk's messages held by the quiet hours")
    for row in rows:  # held until the window ends, an hour from now
        assert timedelta(minutes=58) < row.not_before - now < timedelta(minutes=61)
        assert row.attempts == 0  # waiting is not a failed attempt
    single = committed_client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                                   json={"phoneNumber": "3330040003", "message": f"single {tag}"})
    assert single.status_code == 202
    arrived = wait_until(lambda: [m["body"] for m in fresh_simulator.messages() if tag in (m.get("body") or "")],
                         60, "the single send to arrive")
    assert arrived == [f"single {tag}"]  # and the bulk, queued first, did not go


@pytest.mark.browser
@pytest.mark.slow
def test_a_session_may_hold_single_sends_too_until_the_window_ends(
        linked_session, fresh_simulator, committed_client, committed_db, admin):
    name = linked_session("q", fields={"quietHoursHoldSingles": True})
    # set once the worker runs (it reads its session's settings at its first send): a window
    # that ends at the start of a minute 20 to 80 s from now (HH:MM has no seconds)
    now = datetime.now(timezone.utc)
    ends = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
    window = f"{(now - timedelta(hours=1)):%H:%M}-{ends:%H:%M}"
    assert committed_client.patch(f"/api/sessions/{name}", headers=admin, json={
        "quietHours": window, "quietTimezone": "UTC"}).status_code == 200
    tag = uuid.uuid4().hex[:8]
    single = committed_client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                                   json={"phoneNumber": "3330040011", "message": f"single {tag}"})
    assert single.status_code == 202
    message_id = single.json["data"]["messageId"]

    def held() -> Message | None:
        committed_db.expire_all()
        row = committed_db.get(Message, message_id)
        waiting = row.status == "QUEUED" and row.not_before and "quiet hours" in (row.error_message or "")
        return row if waiting else None

    row = wait_until(held, 60, "the single send held by the quiet hours")
    assert abs((row.not_before - ends).total_seconds()) < 2 and row.attempts == 0
    assert ends > datetime.now(timezone.utc), "the window ended before the hold was seen: too slow"

    def arrived() -> list[dict]:
        # beat's sweeper publishes a held single once it is due (services/outbox.py)
        outbox.sweep(committed_db, idle_seconds=600, chain_idle_seconds=600, session_name=name)
        committed_db.commit()
        return [m for m in fresh_simulator.messages() if m.get("body") == f"single {tag}"]

    [message] = wait_until(arrived, 150, "the single send after the window", interval=0.5)
    assert message["receivedAt"] >= ends.timestamp()  # not before the window ended
