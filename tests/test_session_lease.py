"""The session lease (worker/lock.py) on the real Redis: it runs out on the holder's own clock, a
frozen holder gets it back only if nobody took it, and a dead holder on this machine is replaced at
once while a live one, or one on another machine, is not."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from tests.waiting import wait_until
from worker.lock import MARGIN, SessionLock


@pytest.fixture
def key(redis_client):
    name = f"wa:lease-test-{uuid.uuid4().hex[:8]}:lock"
    yield name
    redis_client.delete(name)


def test_the_lease_runs_out_on_the_holders_clock_without_a_refresh(redis_client, key):
    lock = SessionLock(redis_client, key, ttl=2, hostname="w0@here")
    assert lock.acquire() and lock.held()
    assert not SessionLock(redis_client, key, ttl=2, hostname="w1@here").acquire()
    started = time.monotonic()
    wait_until(lambda: not lock.held(), 5, "the lease to run out")
    assert time.monotonic() - started <= 2 - MARGIN + 0.2  # before Redis frees the key


def test_a_holder_whose_lease_ran_out_gets_it_back_only_if_nobody_took_it(redis_client, key):
    lock = SessionLock(redis_client, key, ttl=2, hostname="w0@here")
    assert lock.acquire()
    wait_until(lambda: not redis_client.exists(key), 5, "the key to expire")
    assert not lock.held()
    assert lock.refresh() and lock.held()  # nobody took it meanwhile: still ours

    wait_until(lambda: not redis_client.exists(key), 5, "the key to expire again")
    other = SessionLock(redis_client, key, ttl=5, hostname="w1@here")
    assert other.acquire()
    assert not lock.refresh() and not lock.held()
    assert redis_client.get(key) == other.token


def test_a_dead_holder_on_this_machine_is_replaced_at_once(redis_client, key):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        living = f"w0@here:{child.pid}:aaaa"
        redis_client.set(key, living, ex=30)
        successor = SessionLock(redis_client, key, ttl=30, hostname="w1@here")
        assert not successor.take_over_from_dead()  # alive: it may still be driving the session
        assert not SessionLock(redis_client, key, ttl=30, hostname="w1@elsewhere").take_over_from_dead()
    finally:
        child.kill()
        child.wait()
    dead = f"w0@here:{child.pid}:aaaa"
    assert not SessionLock(redis_client, key, ttl=30, hostname="w1@elsewhere").take_over_from_dead()
    successor = SessionLock(redis_client, key, ttl=30, hostname="w1@here")
    assert redis_client.get(key) == dead
    assert successor.take_over_from_dead() and successor.held()
    assert redis_client.get(key) == successor.token


def test_a_courier_whose_row_was_claimed_again_writes_nothing(committed_db, redis_client):
    """The row of a send that a frozen worker claimed, reconciled and sent by the session's new
    owner meanwhile: the woken worker's write is refused and the owner's outcome stays."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from core.db import get_engine
    from core.settings import get_settings
    from models import Message
    from worker.delivery import Courier
    from worker.errors import LeaseLost

    first_claim = datetime.now(timezone.utc) - timedelta(seconds=30)
    row = Message(session=f"lease{uuid.uuid4().hex[:8]}", direction="OUTGOING", status="SENDING",
                  phone_number="393331234567", chat_id="393331234567@c.us", body="ciao", attempts=1,
                  sending_at=first_claim)
    committed_db.add(row)
    committed_db.commit()
    message_id = row.id
    stale = committed_db.get(Message, message_id)  # what the frozen worker holds (loaded, not expired)
    assert stale.sending_at == first_claim
    with get_engine().begin() as owner:  # the new owner, on its own connection
        owner.execute(update(Message).where(Message.id == message_id).values(
            status="SENT", sending_at=first_claim + timedelta(seconds=20), wa_message_id="owner-id"))

    with pytest.raises(LeaseLost):
        Courier(None, get_settings(), redis_client)._record_sent(stale, "stale-id")
    committed_db.rollback()
    kept = committed_db.get(Message, message_id)
    assert (kept.status, kept.wa_message_id) == ("SENT", "owner-id")
