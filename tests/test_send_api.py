"""The API side of sending: validation, the QUEUED row and its audit entry, the task on the broker,
idempotency, bulk acceptance, job cancel and the message lists. (Delivery is in test_pipeline.py.)"""
import json
import threading

import pytest

from core.redis import get_redis
from models import AuditLog, Message
from models.enums import Role
from services.dispatch import bulk_queue, interactive_queue



@pytest.fixture
def broker(app):
    """The tasks waiting in this session's queues (kombu keeps a Redis list per queue)."""
    session = app.config["SETTINGS"].session_name
    redis = get_redis()
    for queue in (interactive_queue(session), bulk_queue(session)):
        redis.delete(queue)

    def tasks(queue_kind="interactive"):
        queue = interactive_queue(session) if queue_kind == "interactive" else bulk_queue(session)
        return [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]

    return tasks


def test_send_queues_a_row_with_its_audit_entry_and_publishes_ids_only(client, pro, db_session, broker):
    response = client.post("/api/whatsapp/send", json={"phoneNumber": "+39 333 123 4567", "message": "Ciao\x07 Mario\r\n"},
                           headers=pro)
    assert response.status_code == 202
    data = response.json["data"]
    assert data["status"] == "QUEUED" and data["phoneNumber"] == "393331234567"
    row = db_session.get(Message, data["messageId"])
    assert row.body == "Ciao Mario\n" and row.chat_id == "393331234567@c.us" and row.direction == "outgoing"
    audit = db_session.query(AuditLog).filter_by(action="message.send").one()  # written with the row, once
    assert (audit.target, audit.outcome, audit.status_code, audit.role) == (f"message:{row.id}", "success", 202,
                                                                            "PROFESSIONAL")
    assert audit.actor == row.user_id and audit.details == {"phoneNumber": "393331234567"} and audit.at
    [task] = broker()
    assert task["headers"]["task"] == "tasks.messages.send_message"
    assert task["headers"]["id"] == row.task_id
    assert task["headers"]["argsrepr"] == repr([str(row.id)])  # the id only: no body, no number


def test_a_send_that_fails_after_queuing_leaves_no_row_and_publishes_nothing(committed_client, pro, committed_db,
                                                                           broker, monkeypatch):
    """The row, its audit entry and a stored Idempotency-Key answer commit together at the request's
    boundary; the task is published only after that commit."""
    from services import idempotency

    def storage_fails(*_args, **_kwargs):
        raise RuntimeError("the answer could not be stored")

    monkeypatch.setattr(idempotency, "complete", storage_fails)
    answer = committed_client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "lost"},
                                   headers={**pro, "Idempotency-Key": "k-fails"})
    assert answer.status_code == 500 and answer.json["success"] is False
    assert committed_db.query(Message).count() == 0 and broker() == []
    assert committed_db.query(AuditLog).filter_by(outcome="success").count() == 0

    monkeypatch.undo()  # the key was released: the client's retry goes through, once
    answer = committed_client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "lost"},
                                   headers={**pro, "Idempotency-Key": "k-fails"})
    assert answer.status_code == 202
    row = committed_db.get(Message, answer.json["data"]["messageId"])
    assert row.status == "QUEUED" and [t["headers"]["id"] for t in broker()] == [row.task_id]
    assert committed_db.query(AuditLog).filter_by(target=f"message:{row.id}", outcome="success").count() == 1


def test_a_send_whose_publish_fails_is_accepted_and_left_to_the_sweeper(committed_client, pro, committed_db,
                                                                         broker, monkeypatch):
    import redis

    from services import dispatch, outbox

    def redis_down(*_args, **_kwargs):
        raise redis.ConnectionError("Redis is restarting")

    monkeypatch.setattr(dispatch, "publish_send", redis_down)
    answer = committed_client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "later"},
                                   headers=pro)
    assert answer.status_code == 202  # the row is durable: a retry would send it twice
    row = committed_db.get(Message, answer.json["data"]["messageId"])
    assert row.status == "QUEUED" and broker() == []
    monkeypatch.undo()
    assert outbox.sweep(committed_db, idle_seconds=0, chain_idle_seconds=None).resent == 1
    assert [t["headers"]["argsrepr"] for t in broker()] == [repr([str(row.id)])]


def test_recipient_is_an_alias_of_phone_number(client, pro):
    response = client.post("/api/whatsapp/send", json={"recipient": "3331234567", "message": "hi"}, headers=pro)
    assert response.status_code == 202 and response.json["data"]["phoneNumber"] == "393331234567"


@pytest.mark.parametrize("body, error_type", [
    ({"message": "hi"}, "VALIDATION_ERROR"),
    ({"phoneNumber": "not a number", "message": "hi"}, "INVALID_NUMBER"),
    ({"phoneNumber": "123", "message": "hi"}, "INVALID_NUMBER"),
    ({"phoneNumber": "3331234567", "message": ""}, "VALIDATION_ERROR"),
    ({"phoneNumber": "3331234567", "message": "\x00\x01\x02"}, "VALIDATION_ERROR"),
    ({"phoneNumber": "3331234567", "message": "x" * 65_537}, "VALIDATION_ERROR"),
    ({"phoneNumber": 3331234567, "message": "hi"}, "VALIDATION_ERROR"),
    ({"phoneNumber": "3331234567", "message": "hi", "extra": 1}, "VALIDATION_ERROR"),
])
def test_bad_sends_are_422_and_queue_nothing(client, pro, db_session, broker, body, error_type):
    response = client.post("/api/whatsapp/send", json=body, headers=pro)
    assert response.status_code == 422 and response.json["error"]["type"] == error_type
    assert db_session.query(Message).count() == 0 and broker() == []


def test_the_longest_allowed_text_is_accepted(client, pro):
    response = client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "é" * 65_536},
                           headers=pro)
    assert response.status_code == 202


def test_idempotency_key_replays_the_first_answer_and_sends_once(committed_client, pro, committed_db, broker):
    client, db_session = committed_client, committed_db
    body = {"phoneNumber": "3331234567", "message": "only once"}
    headers = {**pro, "Idempotency-Key": "order-42"}
    first = client.post("/api/whatsapp/send", json=body, headers=headers)
    again = client.post("/api/whatsapp/send", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert db_session.query(Message).count() == 1 and len(broker()) == 1

    changed = client.post("/api/whatsapp/send", json={**body, "message": "different"}, headers=headers)
    assert changed.status_code == 422 and "different request body" in changed.json["error"]["message"]


def test_idempotency_keys_are_scoped_to_the_caller(committed_client, auth_headers, committed_db):
    client, db_session = committed_client, committed_db
    body = {"phoneNumber": "3331234567", "message": "hello"}
    for role in (Role.PROFESSIONAL, Role.ADMIN):
        response = client.post("/api/whatsapp/send", json=body,
                               headers={**auth_headers(role), "Idempotency-Key": "shared-key"})
        assert response.status_code == 202
    assert db_session.query(Message).count() == 2


def test_a_key_still_in_progress_gets_409(committed_client, pro, app, monkeypatch):
    """The second request arrives while the first is inside the view: 409, retryable."""
    import services.messages as messages_service

    entered, release = threading.Event(), threading.Event()
    original = messages_service.enqueue

    def slow_queue(*args, **kwargs):
        entered.set()
        release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(messages_service, "enqueue", slow_queue)
    body = {"phoneNumber": "3331234567", "message": "slow"}
    headers = {**pro, "Idempotency-Key": "slow-1"}
    first_result = {}
    first = threading.Thread(target=lambda: first_result.update(
        r=app.test_client().post("/api/whatsapp/send", json=body, headers=headers)))
    first.start()
    assert entered.wait(10)
    second = committed_client.post("/api/whatsapp/send", json=body, headers=headers)
    release.set()
    first.join(10)
    assert second.status_code == 409 and second.json["error"]["retry"] is True
    assert first_result["r"].status_code == 202


def test_a_failed_request_releases_its_key(committed_client, pro):
    client = committed_client
    headers = {**pro, "Idempotency-Key": "fix-and-retry"}
    bad = client.post("/api/whatsapp/send", json={"phoneNumber": "12", "message": "x"}, headers=headers)
    assert bad.status_code == 422
    good = client.post("/api/whatsapp/send", json={"phoneNumber": "12", "message": "x"}, headers=headers)
    assert good.status_code == 422 and "Idempotent-Replayed" not in good.headers


def test_bulk_normalises_deduplicates_and_reports_invalid_numbers(client, auth_headers, db_session, broker):
    recipients = ["+39 333 123 4567", "3331234567", "00393331234567", "333 765 4321", "nope", "12"]
    response = client.post("/api/whatsapp/send-bulk", json={"recipients": recipients, "message": "promo"},
                           headers=auth_headers(Role.ADMIN))
    assert response.status_code == 202
    data = response.json["data"]
    assert data["queued"] == ["393331234567", "393337654321"]
    assert data["sent"] == [] and data["failed"] == []
    assert [i["number"] for i in data["invalid"]] == ["nope", "12"]
    assert all(i["reason"] for i in data["invalid"])
    assert db_session.query(Message).filter_by(bulk_job_id=data["jobId"]).count() == 2
    [chain_step] = broker("bulk")
    assert chain_step["headers"]["task"] == "tasks.messages.run_bulk"
    assert broker() == []  # bulk never fills the interactive queue

    progress = client.get(f"/api/whatsapp/jobs/{data['jobId']}", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    assert (progress["total"], progress["queued"], progress["sent"], len(progress["invalid"])) == (2, 2, 0, 2)


def test_bulk_limits(client, auth_headers):
    admin = auth_headers(Role.ADMIN)
    too_many = client.post("/api/whatsapp/send-bulk", json={"recipients": ["3331234567"] * 10_001, "message": "x"},
                           headers=admin)
    assert too_many.status_code == 422
    empty = client.post("/api/whatsapp/send-bulk", json={"recipients": [], "message": "x"}, headers=admin)
    assert empty.status_code == 422


def test_cancel_stops_what_is_not_yet_sent(client, auth_headers, db_session):
    admin = auth_headers(Role.ADMIN)
    job_id = client.post("/api/whatsapp/send-bulk", json={"recipients": ["3331234567", "3337654321"],
                                                          "message": "x"}, headers=admin).json["data"]["jobId"]
    cancelled = client.post(f"/api/whatsapp/jobs/{job_id}/cancel", headers=admin)
    assert cancelled.status_code == 200
    progress = cancelled.json["data"]
    assert progress["status"] == "CANCELLED" and progress["failedByType"] == {"CANCELLED": 2}
    assert client.post(f"/api/whatsapp/jobs/{job_id}/cancel", headers=admin).status_code == 409
    assert client.get("/api/whatsapp/jobs/00000000-0000-0000-0000-000000000000", headers=admin).status_code == 404


def test_lists_filter_and_paginate_newest_first(client, pro):
    ids = []
    for n, number in enumerate(["3331111111", "3332222222", "3331111111", "3331111111"]):
        ids.append(client.post("/api/whatsapp/send", json={"phoneNumber": number, "message": f"text {n} caffè"},
                               headers=pro).json["data"]["messageId"])
    first = client.get("/api/whatsapp/messages?phoneNumber=3331111111&limit=2", headers=pro).json
    second = client.get(f"/api/whatsapp/messages?phoneNumber=3331111111&limit=2&cursor={first['nextCursor']}",
                        headers=pro).json
    assert [m["messageId"] for m in first["data"] + second["data"]] == [ids[3], ids[2], ids[0]]
    assert second["nextCursor"] is None

    found = client.get("/api/whatsapp/messages?q=text 1", headers=pro).json["data"]
    assert [m["messageId"] for m in found] == [ids[1]]
    assert client.get("/api/whatsapp/messages?q=100%", headers=pro).json["data"] == []
    conversation = client.get("/api/whatsapp/messages/393332222222", headers=pro).json["data"]
    assert [m["messageId"] for m in conversation] == [ids[1]]

    detail = client.get(f"/api/whatsapp/messages/{ids[0]}", headers=pro).json["data"]
    assert detail["status"] == "QUEUED" and [h["status"] for h in detail["history"]] == ["QUEUED"]
    assert client.get("/api/whatsapp/messages?status=NOPE", headers=pro).status_code == 422


def test_only_incoming_messages_can_be_marked_read(client, pro):
    message_id = client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "x"},
                             headers=pro).json["data"]["messageId"]
    assert client.post(f"/api/whatsapp/messages/{message_id}/read", headers=pro).status_code == 409
