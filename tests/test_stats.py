"""Statistics: counts and rollups (kept by triggers), series, error counters and their audited reset."""
import math
import platform
import random
import tomllib
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from core.settings import ROOT, get_settings
from models import AuditLog, ErrorCounter, Message, Template, WaSession
from models.enums import Role
from services import error_stats, stats
from services.messages import now
from services.stats import _bucket_bounds


SESSION = get_settings().session_name  # the API's default session (per test run, see tests/conftest.py)
OTHER = f"{SESSION}-other"


def message(db, phone="393331111111", direction="outgoing", status="READ", age=timedelta(0), session=SESSION,
            **extra):
    created = now() - age
    row = Message(session=session, direction=direction, status=status, phone_number=phone, chat_id=f"{phone}@c.us",
                  body="x", from_me=direction == "outgoing", created_at=created, **extra)
    if status in ("SENT", "DELIVERED", "READ") and direction == "outgoing":
        row.sent_at = created + timedelta(seconds=2)
    if status in ("DELIVERED", "READ"):
        row.delivered_at = created + timedelta(seconds=10)
    if status == "FAILED":
        row.failed_at = created
    db.add(row)
    return row


@pytest.fixture
def history(db_session):
    template = Template(name="T", category="greeting", content="x", variables=[], tags=[])
    db_session.add(template)
    db_session.flush()
    message(db_session, status="READ", template_id=template.id)
    message(db_session, status="SENT")
    message(db_session, status="FAILED", error_type="NOT_WHATSAPP")
    message(db_session, phone="393332222222", direction="incoming", status="DELIVERED")
    message(db_session, status="DELIVERED", age=timedelta(days=3))
    message(db_session, status="FAILED", error_type="RATE_LIMIT", age=timedelta(days=40))
    db_session.flush()
    return template


def test_stats_counts_today_and_total(client, auth_headers, history, db_session):
    data = client.get("/api/whatsapp/stats", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    total = data["total"]["byDirection"]
    assert total["outgoing"]["total"] == 5 and total["incoming"]["DELIVERED"] == 1
    assert total["outgoing"]["FAILED"] == 2 and data["total"]["successRate"] == 0.6
    today = data["today"]["byDirection"]
    assert today["outgoing"]["total"] == 3 and data["today"]["successRate"] == round(2 / 3, 4)
    assert set(data["queue"]) == {"interactive", "bulk", "total"} and data["session"]["state"] == "STOPPED"

    row = db_session.query(Message).filter_by(status="SENT").one()
    row.status = "DELIVERED"  # the trigger moves the count along
    db_session.flush()
    after = client.get("/api/whatsapp/stats", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    assert after["total"]["byDirection"]["outgoing"]["SENT"] == 0
    assert after["total"]["byDirection"]["outgoing"]["DELIVERED"] == 2


def test_stats_count_the_session_asked_for(client, auth_headers, history, db_session):
    other = OTHER
    db_session.add(WaSession(name=other))
    message(db_session, status="FAILED", error_type="BLOCKED", session=other)
    message(db_session, status="FAILED", error_type="BLOCKED", session=other, age=timedelta(days=2))
    db_session.flush()
    pro = auth_headers(Role.PROFESSIONAL)
    default = client.get("/api/whatsapp/stats", headers=pro).json["data"]
    assert default["total"]["byDirection"]["outgoing"]["FAILED"] == 2  # as before: the other session's are not in
    data = client.get(f"/api/whatsapp/stats?session={other}", headers=pro).json["data"]
    assert data["session"]["name"] == other
    assert data["today"]["byDirection"]["outgoing"] == {**dict.fromkeys(data["today"]["byDirection"]["outgoing"], 0),
                                                        "FAILED": 1, "total": 1}
    assert data["total"]["byDirection"]["outgoing"]["FAILED"] == 2 and data["total"]["successRate"] == 0.0


def test_detailed_stats(client, auth_headers, history):
    pro = auth_headers(Role.PROFESSIONAL)
    data = client.get("/api/whatsapp/detailed-stats?days=7", headers=pro).json["data"]
    assert sum(d["outgoing"] for d in data["perDay"]) == 4 and sum(d["incoming"] for d in data["perDay"]) == 1
    assert sum(h["outgoing"] + h["incoming"] for h in data["perHour"]) == 5
    assert data["topContacts"][0] == {"phoneNumber": "393331111111", "messages": 4, "name": None}
    assert data["templateUsage"] == [{"templateId": str(history.id), "name": "T", "messages": 1}]
    assert data["medianSecondsToSent"] == 2.0 and data["medianSecondsToDelivered"] == 10.0
    assert data["failuresByType"] == {"NOT_WHATSAPP": 1}
    longer = client.get("/api/whatsapp/detailed-stats?days=90", headers=pro).json["data"]
    assert longer["failuresByType"] == {"NOT_WHATSAPP": 1, "RATE_LIMIT": 1}
    for bad in ("0", "91", "x"):
        assert client.get(f"/api/whatsapp/detailed-stats?days={bad}", headers=pro).status_code == 422


def test_detailed_stats_count_the_session_asked_for(client, auth_headers, history, db_session, make_user):
    db_session.add(WaSession(name=OTHER))
    message(db_session, phone="393339999999", status="FAILED", error_type="BLOCKED", session=OTHER)
    message(db_session, phone="393339999999", status="READ", session=OTHER, age=timedelta(days=2))
    db_session.flush()
    pro = auth_headers(Role.PROFESSIONAL)
    default = client.get("/api/whatsapp/detailed-stats?days=7", headers=pro).json["data"]
    assert sum(d["outgoing"] for d in default["perDay"]) == 4  # as in test_detailed_stats: the other's are not in
    assert "393339999999" not in {c["phoneNumber"] for c in default["topContacts"]}
    assert default == client.get(f"/api/whatsapp/detailed-stats?days=7&session={SESSION}", headers=pro).json["data"]

    other = client.get(f"/api/whatsapp/detailed-stats?days=7&session={OTHER}", headers=pro).json["data"]
    assert sum(d["outgoing"] for d in other["perDay"]) == 2 and sum(d["incoming"] for d in other["perDay"]) == 0
    assert other["topContacts"] == [{"phoneNumber": "393339999999", "messages": 2, "name": None}]
    assert other["failuresByType"] == {"BLOCKED": 1} and other["templateUsage"] == []
    assert other["medianSecondsToSent"] == 2.0 and other["medianSecondsToDelivered"] == 10.0

    limited = make_user(Role.PROFESSIONAL)
    limited.allowed_sessions = [SESSION]
    db_session.commit()
    headers = auth_headers(Role.PROFESSIONAL, user=limited)
    denied = client.get(f"/api/whatsapp/detailed-stats?session={OTHER}", headers=headers)
    assert denied.status_code == 403 and denied.json["error"]["type"] == "PERMISSION_DENIED"
    assert client.get("/api/whatsapp/detailed-stats?days=7", headers=headers).json["data"] == default
    assert client.get("/api/whatsapp/detailed-stats?session=nobody-here", headers=pro).status_code == 404


def test_system_info(client, auth_headers):
    data = client.get("/api/whatsapp/system-info", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert data["versions"]["app"] == declared and data["versions"]["python"] == platform.python_version()
    assert data["database"]["ok"] is True and data["redis"]["ok"] is True
    assert data["session"]["state"] and data["uptimeSeconds"] >= 0


def test_error_stats_and_audited_reset(client, auth_headers, history, db_session):
    error_stats.increment(db_session, SESSION, "NOT_WHATSAPP", "393331111111 is not on WhatsApp")
    error_stats.increment(db_session, SESSION, "NOT_WHATSAPP", "again")
    error_stats.increment(db_session, SESSION, "RATE_LIMIT")
    data = client.get("/api/whatsapp/error-stats", headers=auth_headers(Role.ADMIN)).json["data"]
    assert data["session"] == SESSION
    assert [(c["errorType"], c["count"]) for c in data["counters"]] == [("NOT_WHATSAPP", 2), ("RATE_LIMIT", 1)]
    assert data["total"] == 3 and [m["errorType"] for m in data["recent"]] == ["NOT_WHATSAPP", "RATE_LIMIT"]
    assert client.post("/api/whatsapp/error-stats/reset", headers=auth_headers(Role.ADMIN)).status_code == 403
    reset = client.post("/api/whatsapp/error-stats/reset", headers=auth_headers(Role.SUPER_ADMIN))
    assert reset.status_code == 200 and reset.json["data"]["reset"] == 2
    db_session.expire_all()
    assert {c.count for c in db_session.query(ErrorCounter)} == {0}
    audit = db_session.query(AuditLog).filter_by(action="error_stats.reset", outcome="success").one()
    assert audit.target == f"session:{SESSION}"


def test_error_stats_count_the_session_asked_for(client, auth_headers, history, db_session, make_user):
    db_session.add(WaSession(name=OTHER))
    other_failure = message(db_session, phone="393339999999", status="FAILED", error_type="BLOCKED", session=OTHER)
    db_session.flush()
    for name, error_type in ((SESSION, "RATE_LIMIT"), (OTHER, "BLOCKED"), (OTHER, "BLOCKED"), (OTHER, "RATE_LIMIT")):
        error_stats.increment(db_session, name, error_type, f"{error_type} on {name}")
    admin = auth_headers(Role.ADMIN)

    default = client.get("/api/whatsapp/error-stats", headers=admin).json["data"]
    assert default == client.get(f"/api/whatsapp/error-stats?session={SESSION}", headers=admin).json["data"]
    assert [(c["errorType"], c["count"], c["lastMessage"]) for c in default["counters"]] == [
        ("RATE_LIMIT", 1, f"RATE_LIMIT on {SESSION}")]
    assert default["total"] == 1 and str(other_failure.id) not in {m["messageId"] for m in default["recent"]}
    other = client.get(f"/api/whatsapp/error-stats?session={OTHER}", headers=admin).json["data"]
    assert other["session"] == OTHER and other["total"] == 3
    assert [(c["errorType"], c["count"]) for c in other["counters"]] == [("BLOCKED", 2), ("RATE_LIMIT", 1)]
    assert [m["messageId"] for m in other["recent"]] == [str(other_failure.id)]

    # resetting one session's counters leaves the other's alone
    root = auth_headers(Role.SUPER_ADMIN)
    reset = client.post(f"/api/whatsapp/error-stats/reset?session={OTHER}", headers=root)
    assert reset.status_code == 200 and reset.json["data"]["reset"] == 2
    assert client.get(f"/api/whatsapp/error-stats?session={OTHER}", headers=admin).json["data"]["total"] == 0
    assert client.get("/api/whatsapp/error-stats", headers=admin).json["data"]["total"] == 1

    limited = make_user(Role.SUPER_ADMIN)
    limited.allowed_sessions = [SESSION]
    db_session.commit()
    headers = auth_headers(Role.SUPER_ADMIN, user=limited)
    for method, path in (("GET", "/api/whatsapp/error-stats"), ("POST", "/api/whatsapp/error-stats/reset")):
        denied = client.open(f"{path}?session={OTHER}", method=method, headers=headers)
        assert denied.status_code == 403 and denied.json["error"]["type"] == "PERMISSION_DENIED"
    assert client.get("/api/whatsapp/error-stats?session=nobody-here", headers=admin).status_code == 404


# --- /detailed-stats from the rollups of migration 0004 ------------------------------------------

HOURLY_TRUTH = """
    SELECT session, date_trunc('hour', created_at, 'UTC'), direction, status,
           CASE WHEN status = 'FAILED' THEN coalesce(error_type, '') ELSE '' END,
           coalesce(template_id, '00000000-0000-0000-0000-000000000000'::uuid), count(*)
    FROM messages GROUP BY 1, 2, 3, 4, 5, 6"""
HOURLY_ROLLUP = """
    SELECT session, hour, direction, status, error_type, template_id, sum(count) FROM message_hourly_counts
    GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(count) <> 0"""
PHONES_TRUTH = """
    SELECT session, (created_at AT TIME ZONE 'UTC')::date, phone_number, count(*) FROM messages GROUP BY 1, 2, 3"""
PHONES_ROLLUP = """
    SELECT session, day, phone_number, sum(count) FROM message_daily_phones GROUP BY 1, 2, 3
    HAVING sum(count) <> 0"""
LATENCY_TRUTH = """
    SELECT session, (created_at AT TIME ZONE 'UTC')::date, 'sent', extract(epoch FROM sent_at - created_at)
    FROM messages WHERE direction = 'outgoing' AND sent_at IS NOT NULL
    UNION ALL
    SELECT session, (created_at AT TIME ZONE 'UTC')::date, 'delivered', extract(epoch FROM delivered_at - created_at)
    FROM messages WHERE direction = 'outgoing' AND sent_at IS NOT NULL AND delivered_at IS NOT NULL"""
LATENCY_ROLLUP = """
    SELECT session, day, kind, bucket, sum(count) FROM message_latency_daily GROUP BY 1, 2, 3, 4
    HAVING sum(count) <> 0"""


def _bucket(seconds: float) -> int:
    """The bucket SQL message_latency_bucket() gives, checked against the bounds stats reads back."""
    bucket = 0 if seconds < 0.001 else 1 + math.floor(16 * math.log(seconds * 1000) / math.log(2))
    low, high = _bucket_bounds(bucket)
    assert low <= seconds < high or bucket == 0
    return bucket


def _as_counts(rows) -> dict:
    return {tuple(row[:-1]): row[-1] for row in rows}


def assert_rollups_match_messages(db):
    """Every rollup, summed over its shards, equals the same figures counted from `messages`."""
    assert _as_counts(db.execute(text(HOURLY_ROLLUP))) == _as_counts(db.execute(text(HOURLY_TRUTH)))
    assert _as_counts(db.execute(text(PHONES_ROLLUP))) == _as_counts(db.execute(text(PHONES_TRUTH)))
    latency: dict = {}
    for session, day, kind, seconds in db.execute(text(LATENCY_TRUTH)):
        key = (session, day, kind, _bucket(float(seconds)))
        latency[key] = latency.get(key, 0) + 1
    assert _as_counts(db.execute(text(LATENCY_ROLLUP))) == latency


@pytest.fixture
def traffic(db_session):
    """Messages of two sessions over 100 days in every state, moved along their statuses by
    single-row and bulk updates, a deleted one and a deleted template (its messages' template_id
    set to NULL)."""
    rng = random.Random(5)
    templates = [Template(name=f"T{i}", category="greeting", content="x", variables=[], tags=[]) for i in range(3)]
    db_session.add_all(templates)
    db_session.flush()
    rows = []
    for i in range(240):
        age = timedelta(hours=rng.uniform(0, 24 * 100)) if i % 3 else timedelta(minutes=rng.uniform(0, 60 * 24 * 8))
        status = rng.choice(["QUEUED", "SENT", "DELIVERED", "READ", "FAILED"])
        row = message(db_session, phone=f"39333{rng.randrange(12):07d}", status=status, age=age,
                      direction="incoming" if i % 7 == 0 else "outgoing", session=OTHER if i % 5 == 2 else SESSION,
                      template_id=rng.choice(templates).id if i % 4 == 0 else None,
                      error_type=rng.choice(["NOT_WHATSAPP", "RATE_LIMIT", None]) if status == "FAILED" else None)
        if row.sent_at is not None:  # spread the latencies, for the histogram medians
            row.sent_at = row.created_at + timedelta(seconds=rng.uniform(0.0005, 120))
            if row.delivered_at is not None:
                row.delivered_at = row.sent_at + timedelta(seconds=rng.uniform(0, 600))
        rows.append(row)
    db_session.flush()  # one multi-row INSERT
    assert_rollups_match_messages(db_session)

    # the pipeline's path, one UPDATE per step: QUEUED -> SENDING -> SENT -> DELIVERED -> READ, and -> FAILED
    walkers = [r for r in rows if r.status == "QUEUED" and r.direction == "outgoing"]
    for index, row in enumerate(walkers[:12]):
        row.status, row.sending_at = "SENDING", row.created_at + timedelta(seconds=1)
        db_session.flush()
        if index % 4 == 0:
            row.status, row.failed_at, row.error_type = "FAILED", now(), "BLOCKED"
            db_session.flush()
            continue
        row.status, row.sent_at = "SENT", row.created_at + timedelta(seconds=1 + index)
        db_session.flush()
        row.status, row.delivered_at = "DELIVERED", row.sent_at + timedelta(seconds=30 * index)
        db_session.flush()
        row.status, row.read_at = "READ", row.delivered_at + timedelta(seconds=5)
        db_session.flush()
    # bulk statements: the rest of the queue fails at once; a retry clears an error type
    db_session.execute(update(Message).where(Message.status == "QUEUED")
                       .values(status="FAILED", error_type="CONNECTION_ERROR", failed_at=now()))
    db_session.execute(update(Message).where(Message.error_type == "RATE_LIMIT", Message.status == "FAILED")
                       .values(status="QUEUED", error_type=None))
    db_session.execute(update(Message).values(attempts=Message.attempts + 1))  # touches no key: no change
    db_session.delete(rows[1])
    db_session.delete(templates[0])  # ON DELETE SET NULL updates its messages
    db_session.flush()
    return rows


def _comparable(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("medianSecondsToSent", "medianSecondsToDelivered")}


def test_rollups_follow_inserts_updates_and_deletes(traffic, db_session):
    assert_rollups_match_messages(db_session)
    statuses = dict(db_session.execute(text(
        "SELECT status, sum(count) FROM message_hourly_counts GROUP BY 1 HAVING sum(count) <> 0")).all())
    assert statuses["READ"] >= 1 and statuses["FAILED"] >= 1 and "SENDING" not in statuses


@pytest.mark.parametrize("tz", ["Europe/Rome", "America/New_York", "UTC"])
def test_detailed_stats_from_rollups_equal_a_scan_of_the_messages(traffic, db_session, tz, monkeypatch):
    for days in (1, 2, 7, 30, 90):
        in_window = db_session.scalar(text("SELECT count(*) FROM messages WHERE created_at >= :since"),
                                      {"since": stats.window_start(days, tz)})
        per_session = 0
        for name in (SESSION, OTHER, "nobody-here"):
            expected = stats.detailed_scan(db_session, days, tz, name)
            assert stats.detailed(db_session, days, tz, name) == expected  # small windows: exact medians
            monkeypatch.setattr(stats, "EXACT_MEDIAN_MESSAGES", 0)  # the histogram medians
            got = stats.detailed(db_session, days, tz, name)
            monkeypatch.undo()
            assert _comparable(got) == _comparable(expected)
            for key in ("medianSecondsToSent", "medianSecondsToDelivered"):
                if expected[key] is None:
                    assert got[key] is None
                else:
                    assert got[key] == pytest.approx(expected[key], rel=0.045, abs=0.001), (days, name, key)
            per_session += sum(d["incoming"] + d["outgoing"] for d in got["perDay"])
        assert per_session == in_window  # the sessions' figures split the window's messages, none twice
    for name in (SESSION, OTHER):
        week = stats.detailed(db_session, 7, tz, name)
        assert week["perHour"] and week["topContacts"] and week["templateUsage"] and week["failuresByType"]
    assert stats.detailed(db_session, 90, tz, "nobody-here")["perDay"] == []


def test_detailed_stats_in_a_zone_with_half_hour_offsets_scans_the_messages(traffic, db_session):
    assert not stats._whole_hour_offsets("Asia/Kolkata", stats.window_start(7, "Asia/Kolkata"))
    assert stats._whole_hour_offsets("Europe/Rome", stats.window_start(90, "Europe/Rome"))
    for name in (SESSION, OTHER):
        assert (stats.detailed(db_session, 7, "Asia/Kolkata", name)
                == stats.detailed_scan(db_session, 7, "Asia/Kolkata", name))


def test_histogram_median():
    assert stats.histogram_median([]) is None
    seconds = [0.2, 1.5, 2.0, 2.0, 7.0, 30.0, 600.0]
    buckets: dict = {}
    for value in seconds:
        buckets[_bucket(value)] = buckets.get(_bucket(value), 0) + 1
    assert stats.histogram_median(list(buckets.items())) == pytest.approx(2.0, rel=0.045)
    assert stats.histogram_median([(0, 1)]) == pytest.approx(0.0005)
