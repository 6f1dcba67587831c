"""The group routes without a browser: validation, what is queued (rows and tasks), the answers when
no worker can read, the outbox sweeper's reminders for group operations, and the error rules."""
import json
import uuid
from datetime import timedelta

import pytest

from core.redis import get_redis
from core.settings import get_settings
from models import AuditLog, GroupOperation, Message
from services import group_rules, outbox
from services.dispatch import interactive_queue
from services.messages import now

SESSION = get_settings().session_name


@pytest.fixture
def queued_tasks():
    redis = get_redis()
    redis.delete(interactive_queue(SESSION))
    yield lambda: [json.loads(raw)["headers"] for raw in redis.lrange(interactive_queue(SESSION), 0, -1)]
    redis.delete(interactive_queue(SESSION))


def test_a_change_is_a_pending_operation_with_a_task_carrying_its_id(committed_client, committed_db, admin,
                                                                     queued_tasks):
    answer = committed_client.post("/api/whatsapp/groups", headers=admin,
                                   json={"subject": "  Squadra \n\x07blu ", "participants": ["+39 333 111 2222",
                                                                                         "393331112222", "3331113333"]})
    assert answer.status_code == 202
    data = answer.json["data"]
    assert (data["status"], data["action"], data["groupId"]) == ("PENDING", "create", None)
    assert data["params"] == {"subject": "Squadra blu", "participants": ["393331112222", "393331113333"]}
    [task] = queued_tasks()
    assert (task["task"], task["argsrepr"]) == ("tasks.groups.run_group_operation", repr([data["operationId"]]))
    operation_id = uuid.UUID(data["operationId"])
    assert committed_db.get(GroupOperation, operation_id).created_by.startswith("user:")
    audit = committed_db.query(AuditLog).filter_by(action="group.create").order_by(AuditLog.id.desc()).first()
    assert audit.details["operationId"] == data["operationId"]
    polled = committed_client.get(f"/api/whatsapp/groups/operations/{operation_id}", headers=admin)
    assert polled.json["data"]["status"] == "PENDING"


@pytest.mark.parametrize("path, body, field", [
    ("/groups", {"subject": "x", "participants": ["12"]}, "participants"),
    ("/groups", {"subject": " \t ", "participants": ["393331112222"]}, "subject"),
    ("/groups", {"subject": "x", "participants": []}, "participants"),
    ("/groups/120363012345678901/participants", {"action": "kick", "participants": ["393331112222"]}, "action"),
    ("/send", {"groupId": "120363012345678901", "phoneNumber": "393331112222", "message": "x"}, "groupId"),
    ("/send", {"groupId": "chat@g.us", "message": "x"}, "groupId"),
    ("/send", {"groupId": "120363012345678901@g.us\n", "message": "x"}, "groupId"),
])
def test_bad_input_is_422_and_queues_nothing(client, admin, queued_tasks, path, body, field):
    answer = client.post(f"/api/whatsapp{path}", headers=admin, json=body)
    assert answer.status_code == 422, answer.json
    assert field in json.dumps(answer.json["error"]["details"])
    assert queued_tasks() == []


def test_a_group_id_that_is_no_group_id_is_no_route(client, admin):
    assert client.get("/api/whatsapp/groups/abc@g.us", headers=admin).status_code == 404
    assert client.post("/api/whatsapp/groups/393331112222@c.us/leave", headers=admin).status_code == 404


def test_text_to_a_group_is_one_more_queued_message(committed_client, committed_db, pro, queued_tasks):
    answer = committed_client.post("/api/whatsapp/send", headers=pro,
                                   json={"groupId": "120363012345678901", "message": "ciao gruppo"})
    assert answer.status_code == 202
    data = answer.json["data"]
    assert (data["groupId"], data["phoneNumber"], data["status"]) == ("120363012345678901@g.us", None, "QUEUED")
    row = committed_db.get(Message, uuid.UUID(data["messageId"]))
    assert (row.chat_id, row.phone_number, row.is_group_msg, row.from_me) == \
        ("120363012345678901@g.us", None, True, True)
    assert [t["task"] for t in queued_tasks()] == ["tasks.messages.send_message"]
    listed = committed_client.get("/api/whatsapp/messages?groupId=120363012345678901@g.us", headers=pro).json
    assert [m["messageId"] for m in listed["data"]] == [data["messageId"]]


def test_media_to_a_group_is_one_more_queued_message(committed_client, committed_db, pro, queued_tasks):
    import base64

    from tests.media_samples import png

    picture = png()
    answer = committed_client.post("/api/whatsapp/send-media", headers=pro, json={
        "groupId": "120363012345678901", "base64": base64.b64encode(picture).decode(), "caption": "foto"})
    assert answer.status_code == 202, answer.json
    data = answer.json["data"]
    assert (data["groupId"], data["phoneNumber"], data["type"]) == ("120363012345678901@g.us", None, "image")
    row = committed_db.get(Message, uuid.UUID(data["messageId"]))
    assert (row.chat_id, row.phone_number, row.is_group_msg, row.caption, row.media_id) == \
        ("120363012345678901@g.us", None, True, "foto", uuid.UUID(data["mediaId"]))
    assert [t["task"] for t in queued_tasks()] == ["tasks.messages.send_message"]
    both = committed_client.post("/api/whatsapp/send-media", headers=pro, json={
        "groupId": "120363012345678901", "phoneNumber": "3331234567", "base64": base64.b64encode(picture).decode()})
    assert both.status_code == 422


def test_reads_answer_503_at_once_without_a_connected_worker(client, pro, admin, queued_tasks):
    for path, headers in (("/groups", pro), ("/groups/120363012345678901", pro),
                          ("/groups/120363012345678901/invite-link", admin)):
        answer = client.get(f"/api/whatsapp{path}", headers=headers)
        assert answer.status_code == 503
        error = answer.json["error"]
        assert (error["type"], error["retry"]) == ("CONNECTION_ERROR", True)
        assert error["userMessage"] == "WhatsApp non è connesso in questo momento."
    assert queued_tasks() == []  # nobody would answer: nothing is published


def test_a_professional_reads_and_sends_but_does_not_change_groups(client, pro):
    assert client.post("/api/whatsapp/groups", headers=pro,
                       json={"subject": "x", "participants": ["393331112222"]}).status_code == 403
    assert client.post("/api/whatsapp/groups/120363012345678901/leave", headers=pro).status_code == 403
    assert client.get("/api/whatsapp/groups/120363012345678901/invite-link", headers=pro).status_code == 403
    assert client.get("/api/whatsapp/groups/120363012345678901/participant-changes", headers=pro).status_code == 200


def test_the_sweeper_reminds_idle_operations_and_gives_up_running_ones(db_session, queued_tasks):
    def operation(status, minutes_ago):
        row = GroupOperation(session=SESSION, action="leave", group_id="120363012345678901@g.us", params={},
                             status=status)
        db_session.add(row)
        db_session.flush()
        row.updated_at = now() - timedelta(minutes=minutes_ago)
        db_session.flush()
        return row

    idle, fresh = operation("PENDING", 5), operation("PENDING", 0)
    lost, busy = operation("RUNNING", 30), operation("RUNNING", 1)
    report = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)
    assert (report.groups_resumed, report.groups_abandoned) == (1, 1)
    assert [t["argsrepr"] for t in queued_tasks()] == [repr([str(idle.id)])]
    assert (lost.status, lost.error_code) == ("FAILED", "no_answer")
    assert (fresh.status, busy.status) == ("PENDING", "RUNNING")


def test_wa_js_group_codes_become_4xx_with_italian_messages():
    cases = {"chat_not_found": (404, "NOT_FOUND"), "not_a_group": (422, "VALIDATION_ERROR"),
             "group_you_are_not_admin": (403, "PERMISSION_DENIED"), "participant_not_exists": (422, "NOT_WHATSAPP"),
             "group_participant_is_already_a_group_admin": (409, "CONFLICT"),
             "you_are_not_allowed_set_group_subject": (403, "PERMISSION_DENIED"),
             "rate_overlimit": (429, "RATE_LIMIT"), "something_new": (502, "UNKNOWN")}
    for code, (status, error_type) in cases.items():
        error = group_rules.error(code, "detail")
        assert (error.status, error.error_type.value, error.details) == (status, error_type, {"code": code})
        assert error.texts["it"][0] != error.texts["en"][0]
    assert group_rules.user_message("group_you_are_not_admin") == "L'account WhatsApp non è amministratore del gruppo."
