"""The message pipeline end to end: the API, a real Celery worker driving headless Chromium on the
simulator, real PostgreSQL and Redis. Each test marks its texts with a unique tag, because the
worker and the simulator are shared by the module."""
import base64
import itertools
import os
import signal
import time
import uuid

import pytest

from core.redis import get_redis
from core.settings import get_settings
from models import Contact, ErrorCounter, Message
from services import dispatch, outbox
from tests.fixtures.worker import forget_session, launch_linked_worker, launch_worker, stop_workers
from tests.waiting import wait_quiet, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PACING_MS = 200
QUIET_SECONDS = 5 * PACING_MS / 1000  # a duplicate would be paced like any send: it shows within this
SESSION = get_settings().session_name  # the API's session (per test run, see tests/conftest.py)
_numbers = itertools.count(3330001001)


def new_number() -> str:
    return str(next(_numbers))


@pytest.fixture(scope="module")
def pipeline(simulator, tmp_path_factory, app):
    """One linked worker for the module, paced at PACING_MS with a little jitter."""
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 400, "readMs": 900})
    tokens = tmp_path_factory.mktemp("pipeline-tokens")
    env = {"SEND_MIN_INTERVAL_MS": str(PACING_MS), "SEND_JITTER_MS": "30", "RETRY_BASE_SECONDS": "1",
           "SEND_MAX_ATTEMPTS": "3"}
    workers = [launch_linked_worker(simulator, tokens, SESSION, 0, client, **env)]

    def restart():
        workers.append(launch_worker(simulator, tokens, SESSION, len(workers), client, **env))
        return workers[-1]

    yield simulator, workers, restart
    stop_workers(workers, client)




def arrivals(sim, tag):
    return [m for m in sim.messages() if tag in (m.get("body") or "")]


def settled_arrivals(sim, tag, job_id: str | None = None, client=None, headers=None) -> list[dict]:
    """The tag's arrivals once the worker is done: its job (if any) finished, its queues drained,
    then no new arrival for a few pacing intervals. Only then may a test assert that nothing more came."""
    if job_id:
        wait_until(lambda: client.get(f"/api/whatsapp/jobs/{job_id}", headers=headers).json["data"]["status"]
                   == "DONE", 90, "the bulk job to finish")
    wait_until(lambda: dispatch.queue_depth(SESSION)["total"] == 0, 30, "the worker's queues to drain")
    return wait_quiet(lambda: arrivals(sim, tag), QUIET_SECONDS, 30, "the arrival log to be quiet")


def row(db, message_id):
    db.expire_all()
    return db.get(Message, message_id)


def test_a_send_arrives_once_and_acks_move_it_to_read(pipeline, committed_client, committed_db, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    number = new_number()
    answer = committed_client.post("/api/whatsapp/send", json={"phoneNumber": number, "message": f"ciao {tag}"},
                                   headers=admin)
    assert answer.status_code == 202
    message_id = answer.json["data"]["messageId"]

    wait_until(lambda: row(committed_db, message_id).status == "READ", 30, "READ")
    [arrived] = arrivals(sim, tag)
    assert arrived["chatId"] == f"39{number}@c.us"
    message = row(committed_db, message_id)
    assert message.wa_message_id == arrived["id"] and message.attempts == 1
    assert message.sent_at <= message.delivered_at <= message.read_at

    detail = committed_client.get(f"/api/whatsapp/messages/{message_id}", headers=admin).json["data"]
    assert [step["status"] for step in detail["history"]] == ["QUEUED", "SENDING", "SENT", "DELIVERED", "READ"]
    assert len(settled_arrivals(sim, tag)) == 1  # exactly once, even after the acks


def test_an_incoming_message_is_stored_with_its_contact_and_can_be_marked_read(
        pipeline, committed_client, committed_db, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    number = f"39{new_number()}"
    sim.incoming(number, f"buongiorno {tag}", pushname="Maria Rossi")

    def stored():
        page = committed_client.get(f"/api/whatsapp/messages?direction=incoming&q={tag}", headers=admin).json
        return page["data"]

    [incoming] = wait_until(stored, 20, "the incoming message in /messages")
    assert incoming["phoneNumber"] == number and incoming["senderName"] == "Maria Rossi"
    assert incoming["fromMe"] is False and incoming["isGroupMsg"] is False
    committed_db.expire_all()
    contact = committed_db.query(Contact).filter_by(phone_number=number).one()
    assert contact.pushname == "Maria Rossi" and contact.has_whatsapp is True

    chat = next(c for c in sim.chats() if c["id"] == f"{number}@c.us")
    assert chat["unread"] == 1
    read = committed_client.post(f"/api/whatsapp/messages/{incoming['messageId']}/read", headers=admin)
    assert read.status_code == 200 and read.json["data"]["status"] == "READ"
    wait_until(lambda: next(c for c in sim.chats() if c["id"] == f"{number}@c.us")["unread"] == 0, 20,
               "the read receipt in the simulator")


def test_bulk_is_paced_and_a_single_send_overtakes_it(pipeline, committed_client, committed_db, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    numbers = [new_number() for _ in range(50)]
    job = committed_client.post("/api/whatsapp/send-bulk", json={"recipients": numbers, "message": f"promo {tag}"},
                                headers=admin).json["data"]
    assert len(job["queued"]) == 50
    wait_until(lambda: len(arrivals(sim, tag)) >= 3, 30, "the bulk to start")
    single = committed_client.post("/api/whatsapp/send", json={"phoneNumber": new_number(), "message": f"urgent {tag}"},
                                   headers=admin)
    assert single.status_code == 202

    wait_until(lambda: len(arrivals(sim, tag)) == 51, 90, "all 51 messages")
    received = arrivals(sim, tag)
    times = [m["receivedAt"] for m in received]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= PACING_MS / 1000, f"smallest gap {min(gaps):.3f} s"
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 5
    bodies = [m["body"] for m in received]
    assert bodies.index(f"urgent {tag}") < len(bodies) - 1, "the single send waited for the whole bulk"
    assert sorted(m["chatId"] for m in received if m["body"] == f"promo {tag}") == sorted(
        f"39{n}@c.us" for n in numbers)

    progress = wait_until(lambda: (p := committed_client.get(f"/api/whatsapp/jobs/{job['jobId']}", headers=admin)
                                   .json["data"])["status"] == "DONE" and p, 30, "the job to finish")
    assert progress["sent"] + progress["delivered"] + progress["read"] == 50 and progress["queued"] == 0


def test_not_on_whatsapp_fails_at_once_and_rate_limits_are_retried(pipeline, committed_client, committed_db, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    absent = new_number()
    sim.not_on_whatsapp(f"39{absent}")
    gone = committed_client.post("/api/whatsapp/send", json={"phoneNumber": absent, "message": f"x {tag}"},
                                 headers=admin).json["data"]["messageId"]
    failed = wait_until(lambda: (m := row(committed_db, gone)).status == "FAILED" and m, 30, "FAILED")
    assert failed.error_type == "NOT_WHATSAPP" and failed.attempts == 1

    sim.fail_next(1, "rate_limit")
    retried = committed_client.post("/api/whatsapp/send", json={"phoneNumber": new_number(), "message": f"y {tag}"},
                                    headers=admin).json["data"]["messageId"]
    sent = wait_until(lambda: (m := row(committed_db, retried)).status in ("SENT", "DELIVERED", "READ") and m,
                      30, "the retried send")
    assert sent.attempts == 2
    assert len(arrivals(sim, f"y {tag}")) == 1
    counters = {(c.session, c.error_type): c.count for c in committed_db.query(ErrorCounter)}
    assert counters == {(SESSION, "NOT_WHATSAPP"): 1, (SESSION, "RATE_LIMIT"): 1}  # counted for the message's session
    history = committed_client.get(f"/api/whatsapp/messages/{retried}", headers=admin).json["data"]["history"]
    assert [h["errorType"] for h in history if h["status"] == "RETRY"] == ["RATE_LIMIT"]


def test_a_worker_killed_mid_bulk_resumes_and_every_recipient_gets_it_once(
        pipeline, committed_client, committed_db, admin):
    sim, workers, restart = pipeline
    tag = uuid.uuid4().hex
    numbers = [new_number() for _ in range(15)]
    job_id = committed_client.post("/api/whatsapp/send-bulk",
                                   json={"recipients": numbers, "message": f"kill {tag}"},
                                   headers=admin).json["data"]["jobId"]
    wait_until(lambda: len(arrivals(sim, tag)) >= 5, 30, "the bulk to be under way")
    os.kill(workers[-1].process.pid, signal.SIGKILL)
    worker = restart()
    worker.wait_state("CONNECTED", timeout=60)

    wait_until(lambda: len(arrivals(sim, tag)) >= 15, 90, "every recipient")
    received = sorted(m["chatId"] for m in settled_arrivals(sim, tag, job_id, committed_client, admin))
    assert received == sorted(f"39{n}@c.us" for n in numbers)  # all of them, each exactly once


def test_redis_flushed_mid_bulk_the_sweeper_completes_it(pipeline, committed_client, committed_db, admin):
    sim, workers, _ = pipeline
    tag = uuid.uuid4().hex
    numbers = [new_number() for _ in range(12)]
    job_id = committed_client.post("/api/whatsapp/send-bulk",
                                   json={"recipients": numbers, "message": f"flush {tag}"},
                                   headers=admin).json["data"]["jobId"]
    wait_until(lambda: len(arrivals(sim, tag)) >= 3, 30, "the bulk to be under way")
    get_redis().flushdb()
    time.sleep(1)
    report = outbox.sweep(committed_db, idle_seconds=0, chain_idle_seconds=0)
    committed_db.commit()
    assert report.chains_restarted == 1

    wait_until(lambda: len(arrivals(sim, tag)) >= 12, 60, "every recipient after the flush")
    settled = settled_arrivals(sim, tag, job_id, committed_client, admin)
    assert sorted(m["chatId"] for m in settled) == sorted(f"39{n}@c.us" for n in numbers)
    assert workers[-1].raw_state().get("state") == "CONNECTED"


def test_an_idempotent_retry_sends_nothing_twice(pipeline, committed_client, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    body = {"phoneNumber": new_number(), "message": f"once {tag}"}
    headers = {**admin, "Idempotency-Key": tag}
    first = committed_client.post("/api/whatsapp/send", json=body, headers=headers)
    wait_until(lambda: arrivals(sim, tag), 30, "the first send")
    again = committed_client.post("/api/whatsapp/send", json=body, headers=headers)
    assert again.json == first.json
    assert len(settled_arrivals(sim, tag)) == 1


def test_messages_wait_through_a_dropped_connection_without_burning_attempts(
        pipeline, committed_client, committed_db, admin):
    sim, workers, _ = pipeline
    tag = uuid.uuid4().hex
    sim.drop(6)
    workers[-1].wait_state("DISCONNECTED", timeout=10)
    message_id = committed_client.post("/api/whatsapp/send", json={"phoneNumber": new_number(),
                                                                   "message": f"later {tag}"},
                                       headers=admin).json["data"]["messageId"]
    wait_until(lambda: dispatch.queue_depth(SESSION)["total"] == 0, 5, "the worker to take the task")
    assert wait_quiet(lambda: arrivals(sim, tag), QUIET_SECONDS, 5, "the arrival log to be quiet") == []
    assert workers[-1].raw_state().get("state") == "DISCONNECTED"  # the quiet time was inside the outage
    assert row(committed_db, message_id).status in ("QUEUED", "SENDING")
    workers[-1].wait_state("CONNECTED", timeout=20)
    wait_until(lambda: arrivals(sim, tag), 30, "the send after reconnection")
    sent = wait_until(lambda: (m := row(committed_db, message_id)).status != "QUEUED" and m, 10, "SENT")
    assert sent.attempts == 1 and len(arrivals(sim, tag)) == 1


def test_incoming_media_is_downloaded_and_served(pipeline, committed_client, admin):
    sim, *_ = pipeline
    tag = uuid.uuid4().hex
    picture = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    sim.incoming(f"39{new_number()}", pushname="Luca", type="image",
                 media={"mimetype": "image/png", "data": base64.b64encode(picture).decode(),
                        "filename": "foto.png", "caption": f"scontrino {tag}"})

    def downloaded():
        rows = committed_client.get("/api/whatsapp/messages?direction=incoming", headers=admin).json["data"]
        return next((m for m in rows if m["caption"] == f"scontrino {tag}" and m["mediaUrl"]), None)

    message = wait_until(downloaded, 30, "the media to be downloaded")
    assert message["mimetype"] == "image/png"
    served = committed_client.get(message["mediaUrl"], headers=admin)
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == picture


def test_a_send_left_sending_is_found_behind_more_than_a_page_of_later_messages(
        pipeline, committed_client, committed_db, admin):
    """A crash between the browser's send and the SENT commit leaves the row SENDING; by the time
    it is reconciled the chat may hold more than one getMessages page of later sends."""
    from sqlalchemy import update

    from worker.delivery import RECONCILE_PAGE

    sim, *_ = pipeline
    tag, number = uuid.uuid4().hex, new_number()
    first_id = committed_client.post("/api/whatsapp/send", json={"phoneNumber": number, "message": f"first {tag}"},
                                     headers=admin).json["data"]["messageId"]
    sent = wait_until(lambda: (m := row(committed_db, first_id)).wa_message_id and m, 30, "the first send")
    whatsapp_id = sent.wa_message_id
    committed_db.execute(update(Message).where(Message.id == first_id)  # the SENT commit that never landed
                         .values(status="SENDING", wa_message_id=None, sent_at=None, delivered_at=None, read_at=None))
    committed_db.commit()
    later = RECONCILE_PAGE + 5
    for i in range(later):
        committed_client.post("/api/whatsapp/send", json={"phoneNumber": number, "message": f"later {tag} {i}"},
                              headers=admin)
    wait_until(lambda: len(arrivals(sim, f"later {tag}")) == later, 180, "every later send")  # ~11 s when idle

    dispatch.publish_reconcile(first_id, SESSION)
    found = wait_until(lambda: (m := row(committed_db, first_id)).status != "SENDING" and m, 30, "the reconcile")
    assert found.status in ("SENT", "DELIVERED", "READ") and found.wa_message_id == whatsapp_id
    assert len(settled_arrivals(sim, f"first {tag}")) == 1
