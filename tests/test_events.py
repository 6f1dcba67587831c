"""The event log: written in the transaction of the change, read in an order no late commit can
overtake, and served as a resumable SSE stream by a real HTTP server."""
from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import replace

import pytest
import requests
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.db import get_engine
from core.settings import get_settings
from models import Event, Message, WaSession
from models.enums import Role
from services import events, messages
from services.events import LogReader
from services.phones import check_number
from tests.sse_client import SseClient, serve

SESSION = get_settings().session_name


def test_a_send_writes_its_queued_event_in_the_same_transaction(client, pro, db_session):
    answer = client.post("/api/whatsapp/send", json={"phoneNumber": "+39 333 123 4567", "message": "ciao"},
                         headers=pro)
    assert answer.status_code == 202, answer.json
    message_id = answer.json["data"]["messageId"]
    [event] = db_session.scalars(select(Event).where(Event.payload["messageId"].astext == message_id)).all()
    assert (event.type, event.session) == ("message.queued", SESSION)
    shown = client.get(f"/api/whatsapp/messages/{message_id}", headers=pro).json["data"]
    assert {k: v for k, v in shown.items() if k != "history"} == event.payload  # the API's own representation


def test_a_bulk_of_many_rows_gets_one_event_per_row_and_acks_their_own(db_session):
    phones = [check_number(f"+39333{n:07d}") for n in range(80)]  # above COPY_FROM_ROWS: the COPY path
    queued = messages.enqueue(db_session, session_name=SESSION, phones=phones, bodies="hi", user_id=None)
    logged = db_session.scalars(select(Event).where(Event.type == "message.queued")).all()
    assert sorted(e.payload["messageId"] for e in logged) == sorted(str(q.id) for q in queued)
    row = db_session.get(Message, queued[0].id)
    messages.claim_for_sending(db_session, row.id)
    messages.mark_sent(db_session, row, "true_393330000000@c.us_ABC")
    assert messages.apply_ack(db_session, SESSION, "true_393330000000@c.us_ABC", 3) == messages.AckResult.APPLIED
    mine = db_session.scalars(select(Event.type).where(Event.payload["messageId"].astext == str(row.id))
                              .order_by(Event.id)).all()
    assert mine == ["message.queued", "message.sending", "message.sent", "message.read"]


def test_a_rolled_back_change_leaves_no_event(db_session):
    before = db_session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    nested = db_session.begin_nested()
    events.alert(db_session, SESSION, "never happened", "test")
    nested.rollback()
    assert db_session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == before


def _write(type_: str = "alert.raised", session: str | None = SESSION, commit: bool = True) -> Session:
    writer = Session(bind=get_engine())
    events.record(writer, type_, session, [{"n": random.random()}])
    if commit:
        writer.commit()
    return writer


def test_the_reader_waits_for_an_id_still_being_written_then_hands_it_out_in_order(committed_db):
    with get_engine().connect() as conn:
        reader = LogReader(events.last_id(conn))
        slow = _write(commit=False)  # takes the lower id, commits last
        _write()
        assert reader.read(conn) == []  # the later id alone would let the lower one be skipped
        assert reader.waiting
        slow.commit()
        got = reader.read(conn)
        assert [e.id for e in got] == sorted(e.id for e in got) and len(got) == 2
        rolled_back = _write(commit=False)
        _write()
        assert reader.read(conn) == []
        rolled_back.rollback()  # its id stays a hole for ever: the reader moves past it
        assert len(reader.read(conn)) == 1 and not reader.waiting


# -- the stream over real HTTP ------------------------------------------------------------------
@pytest.fixture
def live_api(committed_db):
    from web import create_app, event_stream

    event_stream.reset()  # the last test's truncation restarted the ids under it
    app = create_app(replace(get_settings(), events_stream_seconds=30, events_heartbeat_seconds=1,
                             rate_limit_default="1000000/minute"))
    with serve(app) as base:
        yield app, base


def _headers(app, role: Role, allowed_sessions=None) -> dict[str, str]:
    from flask_jwt_extended import create_access_token

    from core.db import db
    from models import User

    user = User(email=f"{uuid.uuid4().hex[:8]}@example.com", password_hash="x", role=role.value,
                allowed_sessions=allowed_sessions)
    db.add(user)
    db.commit()
    with app.app_context():
        return {"Authorization": f"Bearer {create_access_token(f'user:{user.id}')}"}


def test_a_client_disconnected_mid_stream_resumes_with_last_event_id_and_misses_nothing(live_api):
    app, base = live_api
    headers = _headers(app, Role.ADMIN)
    with get_engine().connect() as conn:
        start = events.last_id(conn)
    stop = threading.Event()

    def writers():  # concurrent transactions commit out of id order, some roll back
        while not stop.is_set():
            slow = _write(commit=False)
            _write()
            time.sleep(random.uniform(0, 0.01))
            (slow.commit if random.random() < 0.8 else slow.rollback)()

    threads = [threading.Thread(target=writers) for _ in range(3)]
    for thread in threads:
        thread.start()
    received = []
    try:
        client = SseClient(f"{base}/api/events?after={start}&types=alert.raised", headers)
        for _ in range(40):
            received.append(client.next_event())
        client.close()  # mid-stream: the writers go on
        time.sleep(0.3)
        client = SseClient(f"{base}/api/events?types=alert.raised", headers, last_event_id=received[-1]["id"])
        for _ in range(40):
            received.append(client.next_event())
        client.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    ids = [event["id"] for event in received]
    with get_engine().connect() as conn:
        logged = conn.execute(text("SELECT id FROM events WHERE id > :a AND id <= :b AND type = 'alert.raised' "
                                   "ORDER BY id"), {"a": start, "b": ids[-1]}).scalars().all()
    assert ids == logged  # every committed event, once, in order, across the reconnection
    assert {e["type"] for e in received} == {"alert.raised"} and all("data" in e for e in received)


def test_what_each_role_sees_and_the_query_token(live_api):
    app, base = live_api
    from core.db import db

    db.add(WaSession(name="other-events"))
    db.commit()
    admin, pro = _headers(app, Role.ADMIN), _headers(app, Role.PROFESSIONAL)
    limited = _headers(app, Role.ADMIN, allowed_sessions=[SESSION])
    assert requests.get(f"{base}/api/events", headers=_headers(app, Role.CLIENT), timeout=5).status_code == 403
    assert requests.get(f"{base}/api/events?types=nope", headers=admin, timeout=5).status_code == 422
    assert requests.get(f"{base}/api/events?token=forged", timeout=5).status_code == 401
    with get_engine().connect() as conn:
        start = events.last_id(conn)
    clients = {name: SseClient(f"{base}/api/events?after={start}", h) for name, h in
               (("admin", admin), ("pro", pro), ("limited", limited))}
    token = requests.post(f"{base}/api/events/token", headers=pro, timeout=5).json()["data"]["token"]
    clients["pro-by-token"] = SseClient(f"{base}/api/events?after={start}&token={token}", {})
    writer = Session(bind=get_engine())
    events.session_qr(writer, SESSION, "2@qr-payload", "2026-11-30T00:00:00+00:00")
    events.alert(writer, "other-events", "elsewhere", "test")
    events.alert(writer, SESSION, "last", "test")
    writer.commit()
    seen = {}
    for name, client in clients.items():
        seen[name] = []
        while not seen[name] or seen[name][-1]["data"].get("message") != "last":
            seen[name].append(client.next_event())
        client.close()
    kinds = {name: [(e["type"], e["session"]) for e in got] for name, got in seen.items()}
    assert kinds["admin"] == [("session.qr", SESSION), ("alert.raised", "other-events"), ("alert.raised", SESSION)]
    assert kinds["pro"] == kinds["pro-by-token"] == [("alert.raised", "other-events"), ("alert.raised", SESSION)]
    assert kinds["limited"] == [("session.qr", SESSION), ("alert.raised", SESSION)]


def test_an_idle_stream_sends_heartbeat_comments(live_api):
    app, base = live_api
    client = SseClient(f"{base}/api/events?types=job.finished", _headers(app, Role.PROFESSIONAL))
    started = time.monotonic()
    assert next(line for line in client.lines if line.startswith(":")) == ": keep-alive"
    assert time.monotonic() - started < 5  # EVENTS_HEARTBEAT_SECONDS is 1 here
    client.close()


def test_after_a_rollback_the_next_transactions_events_still_wake_the_readers(committed_db):
    from core.redis import get_redis

    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(events.channel())
    with Session(bind=get_engine()) as writer:
        events.alert(writer, SESSION, "rolled back", "test")
        writer.rollback()
        events.alert(writer, SESSION, "kept", "test")
        writer.commit()
    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
    pubsub.close()
    assert message is not None


def test_beat_purges_events_older_than_the_retention(db_session):
    from datetime import datetime, timedelta, timezone

    events.alert(db_session, SESSION, "old", "test")
    events.alert(db_session, SESSION, "recent", "test")
    db_session.execute(text("UPDATE events SET at = :at WHERE payload->>'message' = 'old'"),
                       {"at": datetime.now(timezone.utc) - timedelta(days=8)})
    assert events.purge(db_session, retention_days=7) >= 1
    left = db_session.scalars(select(Event.payload["message"].astext).where(Event.type == "alert.raised")).all()
    assert "old" not in left and "recent" in left


def test_a_bulk_job_reports_progress_at_most_once_a_second_and_its_end(db_session):
    from core.redis import Keys, get_redis
    from models import BulkJob
    from services import bulk

    job, valid, _ = bulk.create_job(db_session, session_name=SESSION, recipients=["+393331110001", "+393331110002"],
                                    body="hi", country="IT", user_id=None)
    get_redis().delete(Keys.job_progress_event(job.id))
    rows = db_session.scalars(select(Message).where(Message.bulk_job_id == job.id)).all()
    for row in rows:  # two changes within the same second: one job.progress
        messages.claim_for_sending(db_session, row.id)
    bulk.cancel(db_session, db_session.get(BulkJob, job.id))
    kinds = db_session.scalars(select(Event.type).where(Event.payload["jobId"].astext == str(job.id))
                               .where(Event.type.like("job.%")).order_by(Event.id)).all()
    assert kinds == ["job.progress", "job.finished"]
    finished = db_session.scalars(select(Event).where(Event.type == "job.finished",
                                                      Event.payload["jobId"].astext == str(job.id))).one()
    assert finished.payload["status"] == "CANCELLED" and finished.payload["total"] == 2


def test_an_opt_out_and_an_opt_in_are_events(db_session):
    from services import optout

    optout.set_opted_out(db_session, "393331112299", True, "wrote 'STOP'", SESSION)
    optout.set_opted_out(db_session, "393331112299", False, None, SESSION)
    logged = db_session.scalars(select(Event).where(Event.type == "contact.opt_out",
                                                    Event.payload["phoneNumber"].astext == "393331112299")
                                .order_by(Event.id)).all()
    assert [(e.session, e.payload["optedOut"]) for e in logged] == [(SESSION, True), (SESSION, False)]
