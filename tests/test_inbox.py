"""The worker's Inbox: acks and incoming messages into PostgreSQL, with real PostgreSQL and Redis.

An ack often reaches the Inbox before the courier has committed the send (the page sees acks
before the send call returns): it is parked in Redis for the courier, and must never be parked
for nobody. Issue 12 found 7-22% of such races lost (a row left at SENT after READ)."""
import random
import threading
import time
import uuid

import pytest

from core.db import db
from core.settings import get_settings
from models import Message
from services.messages import AckResult, apply_ack
from tests.fixtures.worker import forget_session
from worker.delivery import Courier, pending_ack_key
from worker.inbox import Inbox

RACES = 50
SPREAD_SECONDS = 0.001  # the courier's commit-then-look and the inbox's look-then-park both take ~1 ms


@pytest.fixture
def session_name(committed_db, redis_client):
    name = f"inbox{uuid.uuid4().hex[:8]}"
    yield name
    forget_session(redis_client, name)


def sending_row(session_name: str, body: str = "ciao") -> uuid.UUID:
    row = Message(session=session_name, direction="OUTGOING", status="SENDING", phone_number="393331234567",
                  chat_id="393331234567@c.us", body=body, attempts=1)
    db.add(row)
    db.commit()
    db.remove()
    return row.id


def status_of(message_id) -> str:
    status = db.get(Message, message_id).status
    db.remove()
    return status


def wa_id() -> str:
    return f"true_393331234567@c.us_3EB0{uuid.uuid4().hex[:16].upper()}"


def test_an_ack_racing_the_sends_commit_is_applied_whoever_wins(session_name, redis_client):
    """The courier records SENT while the inbox handles the READ ack, a random fraction of a
    millisecond apart in either order: the row always ends READ and nothing stays parked."""
    courier, inbox, rng = Courier(None, get_settings(), redis_client), Inbox(session_name, redis_client), random.Random(12)
    not_read = []
    for i in range(RACES):
        message_id, whatsapp_id = sending_row(session_name, f"race {i}"), wa_id()
        start, offset = threading.Barrier(2), rng.uniform(-SPREAD_SECONDS, SPREAD_SECONDS)

        def record_sent():
            message = db.get(Message, message_id)
            start.wait()
            time.sleep(max(0.0, offset))  # a jitter that lets either side win, not a wait
            courier._record_sent(message, whatsapp_id)
            db.remove()

        def handle_ack():
            start.wait()
            time.sleep(max(0.0, -offset))
            inbox.handle({"type": "ack", "ack": 3, "ids": [whatsapp_id]})

        threads = [threading.Thread(target=record_sent), threading.Thread(target=handle_ack)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in threads)
        if status_of(message_id) != "READ":
            not_read.append(i)
    assert not_read == [], f"{len(not_read)} of {RACES} rows not READ after their READ ack"
    assert list(courier.redis.scan_iter(pending_ack_key(session_name, "*"))) == []


def test_an_ack_before_the_commit_is_parked_and_applied_by_the_courier(session_name, redis_client):
    message_id, whatsapp_id = sending_row(session_name), wa_id()
    Inbox(session_name, redis_client).handle({"type": "ack", "ack": 2, "ids": [whatsapp_id]})
    Inbox(session_name, redis_client).handle({"type": "ack", "ack": 3, "ids": [whatsapp_id]})
    Inbox(session_name, redis_client).handle({"type": "ack", "ack": 1, "ids": [whatsapp_id]})  # late: keeps the highest
    assert redis_client.get(pending_ack_key(session_name, whatsapp_id)) == "3"
    Courier(None, get_settings(), redis_client)._record_sent(db.get(Message, message_id), whatsapp_id)
    db.remove()
    assert status_of(message_id) == "READ"
    assert redis_client.exists(pending_ack_key(session_name, whatsapp_id)) == 0


def test_acks_for_a_known_row_are_applied_or_ignored_never_parked(session_name, redis_client):
    message_id, whatsapp_id = sending_row(session_name), wa_id()
    Courier(None, get_settings(), redis_client)._record_sent(db.get(Message, message_id), whatsapp_id)
    db.remove()
    for ack in (1, 3, 2, 0):  # server ack after SENT, read, then a delivered ack overtaken by it
        Inbox(session_name, redis_client).handle({"type": "ack", "ack": ack, "ids": [whatsapp_id, None, ""]})
    assert status_of(message_id) == "READ"
    assert list(redis_client.scan_iter(pending_ack_key(session_name, "*"))) == []


def test_apply_ack_says_whether_the_row_moved_is_ahead_or_unknown(session_name, redis_client):
    message_id, whatsapp_id = sending_row(session_name), wa_id()
    assert apply_ack(db, session_name, whatsapp_id, 2) == AckResult.UNKNOWN
    db.rollback()
    Courier(None, get_settings(), redis_client)._record_sent(db.get(Message, message_id), whatsapp_id)
    assert apply_ack(db, session_name, whatsapp_id, 1) == AckResult.STALE
    assert apply_ack(db, session_name, whatsapp_id, 0) == AckResult.STALE
    assert apply_ack(db, session_name, whatsapp_id, 2) == AckResult.APPLIED
    assert apply_ack(db, session_name, whatsapp_id, 2) == AckResult.STALE
    db.commit()
    db.remove()
    assert status_of(message_id) == "DELIVERED"


def test_an_event_that_meets_the_database_away_is_stored_once_it_is_back(session_name, redis_client, monkeypatch):
    """A database restart must not drop the acks that arrive meanwhile (a row would stay SENT)."""
    from sqlalchemy.exc import OperationalError

    import services.messages as messages_service

    message_id, whatsapp_id = sending_row(session_name), wa_id()
    Courier(None, get_settings(), redis_client)._record_sent(db.get(Message, message_id), whatsapp_id)
    db.remove()
    real, failures = messages_service.apply_ack, []

    def away_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("UPDATE messages", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    monkeypatch.setattr(messages_service, "apply_ack", away_once)
    Inbox(session_name, redis_client).handle({"type": "ack", "ack": 3, "ids": [whatsapp_id]})
    assert failures == [1] and status_of(message_id) == "READ"
