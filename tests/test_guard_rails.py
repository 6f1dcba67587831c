"""Campaign guard rails: a bulk's answer says when it will finish under the session's caps; above
the daily cap it is refused with 422 and the estimate, unless the caller asks to spread it."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from core.redis import Keys
from core.settings import get_settings
from models import BulkJob, Message
from models.enums import Role
from services import sessions
from services.guard_rails import finish_time
from services.sessions import PacingCaps
from tests.fixtures.worker import forget_session

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)


def caps(interval_ms=1000, jitter_ms=0, per_second=5, per_hour=0, per_day=0) -> PacingCaps:
    return PacingCaps(interval_ms, jitter_ms, per_second, per_hour, per_day)


def test_the_estimate_follows_the_pacers_rules():
    assert finish_time(3600, caps(), T0, 0, 0) == (T0 + timedelta(hours=1), 1)
    # on average half the jitter is added to every interval
    assert finish_time(100, caps(1000, 1000), T0, 0, 0)[0] == T0 + timedelta(seconds=150)
    # the per-second cap bounds a short interval
    assert finish_time(50, caps(0, 0, per_second=5), T0, 0, 0)[0] == T0 + timedelta(seconds=10)
    # 100 an hour: 250 take two full hours and half the third
    assert finish_time(250, caps(per_hour=100), T0, 0, 0)[0] == T0 + timedelta(hours=2, seconds=50)
    # 30 already sent this hour leave room for 70 before 11:00
    assert finish_time(80, caps(per_hour=100), T0, 30, 0)[0] == T0 + timedelta(hours=1, seconds=10)
    # a daily cap of 100 with 90 used today: 10 now, the rest from the next UTC day
    finish, days = finish_time(50, caps(per_day=100), T0, 0, 90)
    assert days == 2 and finish == datetime(2026, 12, 1, 0, 0, 40, tzinfo=timezone.utc)


def test_the_estimate_waits_out_the_quiet_hours():
    # 10:00 UTC is 11:00 in Rome, inside 10:30-12:00 there: the sends start at 12:00 Rome (11:00 UTC)
    assert finish_time(60, caps(), T0, 0, 0, ("10:30-12:00", "Europe/Rome"))[0] == T0 + timedelta(hours=1, minutes=1)
    # 3,600 sends from 10:00 UTC, a window 10:30-11:00 UTC: half an hour before it, the rest after it
    assert finish_time(3600, caps(), T0, 0, 0, ("10:30-11:00", "UTC"))[0] == T0 + timedelta(hours=1, minutes=30)
    # a window across midnight, 21:00-08:00 UTC, with 100 a day: the next day's sends wait for 08:00
    finish, days = finish_time(150, caps(per_day=100), T0, 0, 0, ("21:00-08:00", "UTC"))
    assert days == 2 and finish == datetime(2026, 12, 1, 8, 0, 50, tzinfo=timezone.utc)


@pytest.fixture
def capped(db_session, redis_client):
    """A session allowed 5 sends a day."""
    name = f"gr{uuid.uuid4().hex[:8]}"
    sessions.create(db_session, get_settings(), name=name, by=None, send_max_per_day=5, send_min_interval_ms=1000,
                    send_jitter_ms=0)
    db_session.commit()
    yield name
    forget_session(redis_client, name)


def numbers(n: int) -> list[str]:
    return [f"33312{i:05d}" for i in range(n)]


def test_a_bulk_under_the_caps_is_accepted_with_its_finishing_estimate(client, admin, capped):
    answer = client.post(f"/api/whatsapp/send-bulk?session={capped}", headers=admin,
                         json={"recipients": numbers(4), "message": "promo"})
    assert answer.status_code == 202, answer.json
    estimate = answer.json["data"]["estimate"]
    assert estimate["messages"] == 4 and estimate["queuedAhead"] == 0 and estimate["dailyCap"] == 5
    assert estimate["days"] == 1 and estimate["spread"] is False
    finish = datetime.fromisoformat(estimate["estimatedFinishAt"])
    assert timedelta(seconds=3) <= finish - datetime.now(timezone.utc) <= timedelta(seconds=6)


def test_a_bulk_over_the_daily_cap_is_refused_unless_spread(client, admin, capped, db_session):
    refused = client.post(f"/api/whatsapp/send-bulk?session={capped}", headers=admin,
                          json={"recipients": numbers(8), "message": "promo"})
    assert refused.status_code == 422
    assert "daily cap of 5" in refused.json["error"]["message"] and "spread" in refused.json["error"]["message"]
    estimate = refused.json["error"]["details"]["estimate"]
    assert estimate["messages"] == 8 and estimate["days"] == 2
    # nothing of it stays behind
    assert db_session.scalar(select(func.count()).select_from(BulkJob).where(BulkJob.session == capped)) == 0
    assert db_session.scalar(select(func.count()).select_from(Message).where(Message.session == capped)) == 0

    spread = client.post(f"/api/whatsapp/send-bulk?session={capped}", headers=admin,
                         json={"recipients": numbers(8), "message": "promo", "spread": True})
    assert spread.status_code == 202
    assert spread.json["data"]["estimate"]["days"] == 2 and spread.json["data"]["estimate"]["spread"] is True


def test_todays_sends_and_the_queue_count_against_the_cap(client, admin, capped, redis_client):
    day_key = Keys.pacing_buckets(Keys.pacing(capped), datetime.now(timezone.utc))[1]
    redis_client.set(day_key, 3, ex=600)  # the pacer's own counter: 3 sent today
    ok = client.post(f"/api/whatsapp/send-bulk?session={capped}", headers=admin,
                     json={"recipients": numbers(1), "message": "one"})
    assert ok.json["data"]["estimate"]["sentToday"] == 3
    refused = client.post(f"/api/whatsapp/send-bulk?session={capped}", headers=admin,
                          json={"recipients": numbers(2)[1:] + ["3339999999"], "message": "two"})
    assert refused.status_code == 422  # 3 sent + 1 queued + 2 > 5
    assert refused.json["error"]["details"]["estimate"]["queuedAhead"] == 1


def test_a_template_bulk_has_the_same_guard(client, admin, capped):
    template = client.post("/api/whatsapp/templates", headers=admin,
                           json={"name": f"t{uuid.uuid4().hex[:6]}", "category": "greeting", "content": "Ciao {{nome}}",
                                 "variables": [{"key": "nome", "required": False, "default": "amico"}]})
    assert template.status_code == 201, template.json
    template_id = template.json["data"]["id"]
    body = {"recipients": [{"phoneNumber": n} for n in numbers(6)]}
    refused = client.post(f"/api/whatsapp/templates/{template_id}/send-bulk?session={capped}", headers=admin, json=body)
    assert refused.status_code == 422 and refused.json["error"]["details"]["estimate"]["messages"] == 6
    accepted = client.post(f"/api/whatsapp/templates/{template_id}/send-bulk?session={capped}", headers=admin,
                           json={**body, "spread": True})
    assert accepted.status_code == 202 and accepted.json["data"]["estimate"]["days"] == 2


@pytest.fixture
def fresh_session(db_session, redis_client):
    """A session without caps, that has exchanged messages with the first two of `numbers()` only."""
    name = f"nn{uuid.uuid4().hex[:8]}"
    sessions.create(db_session, get_settings(), name=name, by=None)
    def row(session: str, direction: str, status: str, number: str) -> Message:
        return Message(session=session, direction=direction, status=status, phone_number=f"39{number}",
                       chat_id=f"39{number}@c.us")

    first = numbers(4)
    db_session.add_all([row(name, "incoming", "READ", first[0]), row(name, "outgoing", "DELIVERED", first[1]),
                        # a message that never went does not make a number known
                        row(name, "outgoing", "FAILED", first[2]),
                        # nor does one in another session
                        row(f"{name}x", "incoming", "READ", first[3])])
    db_session.commit()
    yield name
    forget_session(redis_client, name)


def test_a_bulk_mostly_to_new_numbers_is_accepted_with_a_warning(client, admin, fresh_session):
    half = client.post(f"/api/whatsapp/send-bulk?session={fresh_session}", headers=admin,
                       json={"recipients": numbers(4), "message": "promo"})
    assert half.status_code == 202 and half.json["data"]["warnings"] == []  # 2 new of 4: not above 50 %
    english = {**admin, "Accept-Language": "en"}
    more = client.post(f"/api/whatsapp/send-bulk?session={fresh_session}", headers=english,
                       json={"recipients": numbers(5), "message": "promo"})
    assert more.status_code == 202
    [warning] = more.json["data"]["warnings"]
    fields = ("code", "newNumbers", "recipients", "sharePercent", "thresholdPercent")
    assert {k: warning[k] for k in fields} == {
        "code": "NEW_NUMBERS", "newNumbers": 3, "recipients": 5, "sharePercent": 60.0, "thresholdPercent": 50}
    assert warning["message"].startswith("3 of 5 recipients (60.0%) never wrote to this session")
    italian = client.post(f"/api/whatsapp/send-bulk?session={fresh_session}", headers=admin,
                          json={"recipients": numbers(5), "message": "promo"})
    assert italian.json["data"]["warnings"][0]["message"].startswith(
        "3 destinatari su 5 (60.0%) non hanno mai scritto")


def test_the_new_numbers_threshold_is_a_runtime_setting_and_covers_template_bulks(
        client, admin, auth_headers, fresh_session):
    boss = auth_headers(Role.SUPER_ADMIN)
    template = client.post("/api/whatsapp/templates", headers=admin,
                           json={"name": f"t{uuid.uuid4().hex[:6]}", "category": "greeting",
                                 "content": "Ciao"})
    assert template.status_code == 201, template.json
    url = f"/api/whatsapp/templates/{template.json['data']['id']}/send-bulk?session={fresh_session}"
    body = {"recipients": [{"phoneNumber": n} for n in numbers(5)]}
    warned = client.post(url, headers=admin, json=body)
    assert warned.status_code == 202 and warned.json["data"]["warnings"][0]["code"] == "NEW_NUMBERS"
    raised = client.patch("/api/settings", headers=boss, json={"BULK_NEW_NUMBERS_WARN_PERCENT": 70})
    assert raised.status_code == 200
    quiet = client.post(url, headers=admin, json=body)
    assert quiet.status_code == 202 and quiet.json["data"]["warnings"] == []  # 60 % is not above 70 %
    bad = client.patch("/api/settings", headers=boss, json={"BULK_NEW_NUMBERS_WARN_PERCENT": 101})
    assert bad.status_code == 422


def test_a_campaign_is_checked_when_it_is_scheduled(client, admin, capped, redis_client):
    url = f"/api/whatsapp/scheduled?session={capped}"
    later = datetime.now(timezone.utc) + timedelta(days=2)
    at = later.replace(hour=9, minute=0, second=0, microsecond=0)
    ok = client.post(url, headers=admin,
                     json={"recipients": numbers(4), "message": "promo", "sendAt": at.isoformat()})
    assert ok.status_code == 201, ok.json
    estimate = ok.json["data"]["estimate"]
    assert datetime.fromisoformat(estimate["startsAt"]) == at
    assert estimate["messages"] == 4 and estimate["days"] == 1 and estimate["dailyCap"] == 5
    # a later day starts with its cap unused, whatever today looks like
    assert estimate["sentToday"] == 0 and estimate["queuedAhead"] == 0
    assert datetime.fromisoformat(estimate["estimatedFinishAt"]) == at + timedelta(seconds=4)
    assert ok.json["data"]["warnings"][0]["code"] == "NEW_NUMBERS"  # 4 numbers never messaged

    refused = client.post(url, headers=admin, json={"recipients": numbers(8), "message": "promo",
                                                    "sendAt": at.isoformat()})
    assert refused.status_code == 422
    message = refused.json["error"]["message"]
    assert "the run at" in message and "daily cap of 5" in message
    assert refused.json["error"]["details"]["estimate"]["days"] == 2
    spread = client.post(url, headers=admin, json={"recipients": numbers(8), "message": "promo",
                                                   "sendAt": at.isoformat(), "spread": True})
    assert spread.status_code == 201 and spread.json["data"]["estimate"]["days"] == 2

    # a recurring campaign's next run; a change is checked again
    cron = client.post(url, headers=admin, json={"recipients": numbers(3), "message": "promo",
                                                 "cron": "0 9 * * *", "timezone": "UTC"})
    assert cron.status_code == 201 and cron.json["data"]["estimate"]["messages"] == 3
    grown = client.patch(f"/api/whatsapp/scheduled/{cron.json['data']['id']}", headers=admin,
                         json={"recipients": numbers(6)})
    assert grown.status_code == 422 and grown.json["error"]["details"]["estimate"]["messages"] == 6

    # one recipient is no campaign
    single = client.post(url, headers=admin, json={"phoneNumber": numbers(1)[0], "message": "hi",
                                                   "sendAt": at.isoformat()})
    assert single.status_code == 201 and single.json["data"]["estimate"] is None


def test_a_campaign_running_today_counts_todays_sends(client, admin, capped, redis_client):
    day_key = Keys.pacing_buckets(Keys.pacing(capped), datetime.now(timezone.utc))[1]
    redis_client.set(day_key, 3, ex=600)  # 3 sent today
    soon = datetime.now(timezone.utc) + timedelta(minutes=2)
    if soon.date() != datetime.now(timezone.utc).date():
        pytest.skip("too close to midnight UTC")
    refused = client.post(f"/api/whatsapp/scheduled?session={capped}", headers=admin,
                          json={"recipients": numbers(3), "message": "promo", "sendAt": soon.isoformat()})
    assert refused.status_code == 422 and refused.json["error"]["details"]["estimate"]["sentToday"] == 3


def test_a_bulk_in_the_sessions_quiet_hours_is_estimated_to_end_after_them(client, admin, db_session, redis_client):
    now = datetime.now(timezone.utc)
    ends = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    name = f"gq{uuid.uuid4().hex[:8]}"
    sessions.create(db_session, get_settings(), name=name, by=None, send_min_interval_ms=1000, send_jitter_ms=0,
                    quiet_hours=f"{now - timedelta(hours=1):%H:%M}-{ends:%H:%M}", quiet_timezone="UTC")
    db_session.commit()
    try:
        answer = client.post(f"/api/whatsapp/send-bulk?session={name}", headers=admin,
                             json={"recipients": numbers(3), "message": "promo"})
        assert answer.status_code == 202, answer.json
        finish = datetime.fromisoformat(answer.json["data"]["estimate"]["estimatedFinishAt"])
        assert ends + timedelta(seconds=2) <= finish <= ends + timedelta(seconds=4)  # 3 sends a second apart
    finally:
        forget_session(redis_client, name)
