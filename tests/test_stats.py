"""Statistics: counts (kept by triggers), series, error counters and their audited reset."""
from datetime import timedelta

import pytest

from models import AuditLog, ErrorCounter, Message, Template
from models.enums import Role
from services import error_stats
from services.messages import now


def message(db, phone="393331111111", direction="outgoing", status="READ", age=timedelta(0), **extra):
    created = now() - age
    row = Message(session="s", direction=direction, status=status, phone_number=phone, chat_id=f"{phone}@c.us",
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


def test_system_info(client, auth_headers):
    data = client.get("/api/whatsapp/system-info", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    assert data["versions"]["app"] == "0.1.0" and data["versions"]["python"].startswith("3.11")
    assert data["database"]["ok"] is True and data["redis"]["ok"] is True
    assert data["session"]["state"] and data["uptimeSeconds"] >= 0


def test_error_stats_and_audited_reset(client, auth_headers, history, db_session):
    error_stats.increment(db_session, "NOT_WHATSAPP", "393331111111 is not on WhatsApp")
    error_stats.increment(db_session, "NOT_WHATSAPP", "again")
    error_stats.increment(db_session, "RATE_LIMIT")
    data = client.get("/api/whatsapp/error-stats", headers=auth_headers(Role.ADMIN)).json["data"]
    assert [(c["errorType"], c["count"]) for c in data["counters"]] == [("NOT_WHATSAPP", 2), ("RATE_LIMIT", 1)]
    assert data["total"] == 3 and [m["errorType"] for m in data["recent"]] == ["NOT_WHATSAPP", "RATE_LIMIT"]
    assert client.post("/api/whatsapp/error-stats/reset", headers=auth_headers(Role.ADMIN)).status_code == 403
    reset = client.post("/api/whatsapp/error-stats/reset", headers=auth_headers(Role.SUPER_ADMIN))
    assert reset.status_code == 200 and reset.json["data"]["reset"] == 2
    db_session.expire_all()
    assert {c.count for c in db_session.query(ErrorCounter)} == {0}
    audit = db_session.query(AuditLog).filter_by(action="error_stats.reset", outcome="success").one()
    assert audit.target == "error_counters"
