"""The outbox sweeper on its own: what it re-publishes, and what it leaves alone."""
import json
import uuid
from datetime import timedelta

import pytest

from core.redis import get_redis
from core.settings import get_settings
from models import BulkJob, CheckJob, Message
from services import outbox
from services.dispatch import bulk_queue, interactive_queue
from services.messages import new_outgoing, now
from services.phones import check_number

SESSION = get_settings().session_name


@pytest.fixture
def queues():
    redis = get_redis()
    redis.delete(interactive_queue(SESSION), bulk_queue(SESSION))
    yield lambda queue: [json.loads(raw)["headers"] for raw in redis.lrange(queue, 0, -1)]
    redis.delete(interactive_queue(SESSION), bulk_queue(SESSION))


def add_message(db, minutes_ago: float, **values) -> Message:
    row = Message(**{**new_outgoing(session_name=SESSION, phone=check_number("3331234567"), body="x",
                                    user_id=None), **values})
    row.created_at = now() - timedelta(minutes=minutes_ago)
    db.add(row)
    db.flush()
    return row


def test_the_sweeper_republishes_only_idle_work(db_session, queues):
    idle_single = add_message(db_session, 5)
    add_message(db_session, 0)  # fresh: its own task is still on its way
    waiting_retry = add_message(db_session, 5, not_before=now() + timedelta(minutes=3))
    stuck = add_message(db_session, 5, status="SENDING", sending_at=now() - timedelta(minutes=5))
    finished_job = BulkJob(id=uuid.uuid4(), session=SESSION, total=1)
    db_session.add(finished_job)
    db_session.flush()
    add_message(db_session, 5, bulk_job_id=finished_job.id, status="SENT")
    check = CheckJob(session=SESSION, numbers=["393331234567", "393337654321"], position=1, status="RUNNING")
    db_session.add(check)
    db_session.flush()
    check.updated_at = now() - timedelta(minutes=5)
    db_session.flush()

    report = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)

    assert (report.resent, report.reconciled, report.jobs_finished, report.checks_resumed) == (1, 1, 1, 1)
    interactive = {(h["task"], h["argsrepr"]) for h in queues(interactive_queue(SESSION))}
    assert interactive == {("tasks.messages.send_message", repr([str(idle_single.id)])),
                           ("tasks.messages.reconcile_message", repr([str(stuck.id)]))}
    assert [h["task"] for h in queues(bulk_queue(SESSION))] == ["tasks.contacts.check_step"]
    assert db_session.get(BulkJob, finished_job.id).status == "DONE"
    assert str(waiting_retry.id) not in str(interactive)


def test_a_silent_bulk_chain_is_restarted_and_a_live_one_is_not(db_session, queues):
    silent, live = (BulkJob(id=uuid.uuid4(), session=SESSION, total=1) for _ in range(2))
    db_session.add_all([silent, live])
    db_session.flush()
    for job in (silent, live):
        add_message(db_session, 5, bulk_job_id=job.id)
        job.created_at = now() - timedelta(minutes=5)
    get_redis().set(f"bulk:{live.id}:beat", now().isoformat(), ex=60)
    db_session.flush()

    report = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)

    assert report.chains_restarted == 1
    [step] = queues(bulk_queue(SESSION))
    assert step["task"] == "tasks.messages.run_bulk" and str(silent.id) in step["argsrepr"]


def test_a_retry_too_long_for_the_broker_is_published_by_the_first_sweep_after_it_is_due(db_session, queues):
    due = add_message(db_session, 0.5, task_id=None, not_before=now() - timedelta(seconds=1))
    later = add_message(db_session, 0.5, task_id=None, not_before=now() + timedelta(minutes=3))

    report = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)

    assert report.resent == 1  # due, though not idle for 60 s: retries do not wait for the idle cutoff
    [task] = queues(interactive_queue(SESSION))
    assert task["argsrepr"] == repr([str(due.id)])
    db_session.expire_all()
    assert db_session.get(Message, due.id).task_id == task["id"]
    assert db_session.get(Message, later.id).task_id is None


def test_a_reminded_row_is_not_published_again_by_the_next_sweep(db_session, queues):
    idle = add_message(db_session, 5)
    left = add_message(db_session, 0.5, task_id=None, not_before=now() - timedelta(seconds=1))

    first = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)
    second = outbox.sweep(db_session, idle_seconds=60, chain_idle_seconds=60, session_name=SESSION)

    assert (first.resent, second.resent) == (2, 0)
    published = sorted(h["argsrepr"] for h in queues(interactive_queue(SESSION)))
    assert published == sorted(repr([str(row.id)]) for row in (idle, left))
