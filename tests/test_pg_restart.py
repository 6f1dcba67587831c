"""PostgreSQL restarts during a burst of /send: the API (gunicorn) answers 503 in the envelope while
the database is away and recovers by itself; the worker (Celery, Chromium on the simulator) lives
through it; every message answered 202 is sent exactly once.

The database is a server of the test's own (tests/fixtures/postgres.py), never the machine's.
"""
from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from models import Message, User
from models.enums import Role
from services import idempotency, outbox
from services.passwords import hash_password
from tests.benchmarks.harness import gunicorn
from tests.fixtures.web import PASSWORD
from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A few recipients: no chat gets more of the burst than the 50 last messages the worker's reconcile
# reads (worker/delivery.py); a row reconciled after more sends to its chat would be sent again.
NUMBERS = [f"33312345{n:02d}" for n in range(10)]
CHATS = {f"39{number}@c.us" for number in NUMBERS}
DONE = ("SENT", "DELIVERED", "READ")
CALLERS = 4
ANSWER_TIMEOUT = 20  # seconds; an answer slower than this is a hang


@dataclass
class Answer:
    index: int
    body: str
    key: str | None
    status: int | None  # None: no answer within ANSWER_TIMEOUT, or the connection failed
    json: dict | None
    seconds: float


class Burst:
    """CALLERS threads posting /send for the indices the test releases, recording every answer."""

    def __init__(self, url: str, token: str, tag: str):
        self.url, self.tag = url + "/api/whatsapp/send", tag
        self.headers = {"Authorization": f"Bearer {token}"}
        self.todo: queue.Queue[int | None] = queue.Queue()
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.released = 0
        self.conflicts = 0
        self.threads = [threading.Thread(target=self._call, daemon=True) for _ in range(CALLERS)]
        for thread in self.threads:
            thread.start()

    def body(self, index: int) -> str:
        return f"{self.tag} {index}"

    def key(self, index: int) -> str | None:
        # every other request carries an Idempotency-Key: that path commits at the request boundary
        return f"{self.tag}-{index}" if index % 2 else None

    def send(self, index: int, http: requests.Session) -> Answer:
        key = self.key(index)
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        started = time.monotonic()
        try:
            payload = {"phoneNumber": NUMBERS[index % len(NUMBERS)], "message": self.body(index)}
            response = http.post(self.url, json=payload, headers=headers, timeout=ANSWER_TIMEOUT)
            status, payload = response.status_code, _json(response)
        except requests.RequestException:
            status, payload = None, None
        return Answer(index, self.body(index), key, status, payload, time.monotonic() - started)

    def retry(self, index: int) -> Answer:
        """Send request `index` again, as a client does after a 503, and again after a 409: a
        request that died while the database was away (its key claimed, the release refused)
        holds the key until the claim's lease runs out."""
        http = requests.Session()
        deadline = time.monotonic() + idempotency.IN_PROGRESS_LEASE.total_seconds() + 15
        failed_connections = 0
        while time.monotonic() < deadline:
            answer = self.send(index, http)
            if answer.status == 409:
                self.conflicts += 1
                time.sleep(2)
            elif answer.status is None and answer.seconds < 1 and failed_connections < 3:
                # refused or reset at once (seen on an overloaded host), as a client retries it: a hang
                # (no answer within ANSWER_TIMEOUT) is not retried, it fails the test
                failed_connections += 1
                http = requests.Session()
                time.sleep(1)
            else:
                break
        return answer

    def _call(self) -> None:
        http = requests.Session()
        while (index := self.todo.get()) is not None:
            answer = self.send(index, http)
            with self.lock:
                self.answers.append(answer)

    def release(self, count: int, seconds: float) -> range:
        """Queue `count` more requests spread over `seconds` (a burst that lasts, not one instant),
        from a thread of its own: the test acts on the database meanwhile."""
        indices = range(self.released, self.released + count)
        self.released += count

        def feed() -> None:
            for index in indices:
                self.todo.put(index)
                time.sleep(seconds / count)

        threading.Thread(target=feed, daemon=True).start()
        return indices

    def answered(self, indices: range | None = None) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if indices is None or a.index in indices]

    def wait_until_answered(self, count: int, indices: range) -> None:
        wait_until(lambda: len(self.answered(indices)) >= count, ANSWER_TIMEOUT, f"{count} answers")

    def wait_answered(self, indices: range, timeout: float) -> list[Answer]:
        return wait_until(lambda: len(found := self.answered(indices)) == len(indices) and found,
                          timeout, f"answers to requests {indices.start}..{indices.stop - 1}")

    def close(self) -> None:
        for _ in self.threads:
            self.todo.put(None)
        for thread in self.threads:
            thread.join(timeout=ANSWER_TIMEOUT + 5)


def _json(response: requests.Response) -> dict | None:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(answers: list[Answer]) -> list[tuple]:
    return [(a.index, a.status, (a.json or {}).get("error", {}).get("type"), round(a.seconds, 2)) for a in answers]


def _rows(engine, tag: str) -> dict[str, tuple[str, str]]:
    """body -> (message id, status) of the rows this test queued, read on the test's own server."""
    with Session(engine) as session:
        found = session.execute(
            select(Message.body, Message.id, Message.status).where(Message.body.like(f"{tag} %")))
        return {body: (str(message_id), status) for body, message_id, status in found}


def _login(url: str, engine) -> str:
    """A new PROFESSIONAL's access token, from the API's own /login."""
    email = f"pgrestart-{uuid.uuid4().hex[:8]}@example.com"
    with Session(engine) as session:
        session.add(User(email=email, password_hash=hash_password(PASSWORD), role=Role.PROFESSIONAL.value))
        session.commit()
    answer = requests.post(url + "/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["accessToken"]


@pytest.fixture
def gateway(own_postgres, simulator, tmp_path_factory, redis_client):
    """A linked worker and a gunicorn API, both on the test's own PostgreSQL and a fresh session."""
    session = f"pg{uuid.uuid4().hex[:8]}"
    simulator.reset()
    tokens = tmp_path_factory.mktemp("pg-restart")
    common = {"DATABASE_URL": own_postgres.url, "SESSION_NAME": session}
    workers = [launch_linked_worker(
        simulator, tokens, session, 0, redis_client, **common, SEND_MIN_INTERVAL_MS="50", SEND_JITTER_MS="0",
        SEND_MAX_PER_SECOND="20", RETRY_BASE_SECONDS="1")]
    env = {**os.environ, **common, "RATE_LIMIT_DEFAULT": "100000/minute",
           "RATE_LIMIT_LOGIN": "100000/minute", "LOG_LEVEL": "WARNING"}  # every run logs in from 127.0.0.1
    log_path = tokens / "gunicorn.log"
    try:
        with gunicorn("web:create_app()", ["-w", "2", "--threads", "4", "-k", "gthread"], env, log_path) as url:
            yield url, workers[0], log_path, session
    finally:
        stop_workers(workers, redis_client)
        forget_session(redis_client, session)


def test_a_postgres_restart_during_a_burst_of_sends(gateway, own_postgres, simulator):
    url, worker, api_log, session_name = gateway
    engine = create_engine(own_postgres.url, poolclass=NullPool)  # the test's reads: no pooled leftovers
    burst = Burst(url, _login(url, engine), uuid.uuid4().hex)
    try:
        before = burst.release(30, seconds=2)
        burst.wait_until_answered(10, before)
        own_postgres.stop()  # fast shutdown while the rest of `before` is still coming
        burst.wait_answered(before, ANSWER_TIMEOUT + 10)
        away = burst.release(20, seconds=1)
        away_answers = burst.wait_answered(away, ANSWER_TIMEOUT + 10)
        own_postgres.start()
        after = burst.release(40, seconds=2)
        after_answers = burst.wait_answered(after, ANSWER_TIMEOUT + 10)
        # a client told `retry: true` sends again; with its Idempotency-Key that is safe
        retried = [burst.retry(a.index) for a in burst.answered() if a.status == 503 and a.key]
    finally:
        burst.close()
    answers = burst.answered()
    context = f"answers (index, status, type, s): {_describe(answers)}\nAPI log:\n{api_log.read_text()[-4000:]}"

    # never a 500, never a hang: 202, or 503 in the envelope while the database is away
    assert {a.status for a in answers} <= {202, 503}, context
    for answer in [a for a in answers if a.status == 503]:
        assert answer.json["success"] is False, context
        assert answer.json["error"]["type"] == "SERVICE_UNAVAILABLE" and answer.json["error"]["retry"] is True, context
    assert [a.status for a in away_answers] == [503] * len(away), context
    # it recovers by itself: the same gunicorn, no restart, serves every request once the database is back
    assert [a.status for a in after_answers] == [202] * len(after), context
    assert all(a.status == 202 for a in retried), f"retries: {_describe(retried)}\n{context}"

    accepted = {a.body: a.json["data"]["messageId"] for a in answers + retried if a.status == 202}
    refused = {a.body for a in answers if a.status == 503} - set(accepted)
    rows = _rows(engine, burst.tag)
    # every 202 has its row; a 503 left nothing behind that would be sent
    assert {body: rows.get(body, ("no row",))[0] for body in accepted} == accepted
    assert not refused & set(rows), f"rows of requests answered 503: {sorted(refused & set(rows))}"

    def pending() -> dict[str, str]:
        return {body: status for body, (_, status) in _rows(engine, burst.tag).items() if status not in DONE}

    # the worker, which lived through the restart, takes every row up by itself: a task that found
    # the database away was retried, not lost
    _wait(worker, lambda: not any(status == "QUEUED" for status in pending().values()), 60,
          "no accepted message still QUEUED")
    # A send whose SENT could not be recorded (the database went away between the browser's send and
    # the commit) stays SENDING until the outbox sweeper has it reconciled against the chat. Beat runs
    # the sweeper every SWEEPER_INTERVAL_SECONDS; here it runs once, when the rows are settled.
    wait_until(_quiet(pending, seconds=3), 30, "the rows settled")
    stuck = pending()
    if stuck:
        with Session(engine) as session:
            outbox.sweep(session, idle_seconds=0, chain_idle_seconds=3600, session_name=session_name)
            session.commit()
    _wait(worker, lambda: not pending(), 60, "every accepted message SENT")

    def arrivals() -> Counter:
        return Counter(m["body"] for m in simulator.messages() if m["chatId"] in CHATS and burst.tag in m["body"])

    # exactly once: every accepted message has arrived, the arrival log is quiet, then count
    wait_until(lambda: set(arrivals()) >= set(accepted), 30, "every accepted message in the arrival log")
    wait_until(_quiet(arrivals, seconds=1.0), 30, "a quiet arrival log")
    counts = arrivals()
    assert {body: n for body, n in counts.items() if n != 1} == {}, "messages sent more than once"
    assert set(counts) == set(accepted), f"sent without a 202: {sorted(set(counts) - set(accepted))}"
    assert worker.process.poll() is None and worker.raw_state().get("state") == "CONNECTED", worker.log()[-3000:]
    print(f"202: {len(accepted)} (retried {len(retried)}, 409 meanwhile {burst.conflicts}), "
          f"503: {len(refused) + len(retried)}, "
          f"left SENDING for the sweeper: {len(stuck)}, slowest answer {max(a.seconds for a in answers):.2f} s")


def _wait(worker, predicate, timeout: float, what: str) -> None:
    try:
        wait_until(predicate, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker log:\n{worker.log()[-4000:]}") from None


def _quiet(read, seconds: float):
    """A predicate true once `read()` has not changed for `seconds`."""
    last = {"value": None, "since": time.monotonic()}

    def predicate() -> bool:
        value = read()
        if value != last["value"]:
            last.update(value=value, since=time.monotonic())
        return time.monotonic() - last["since"] >= seconds

    return predicate
