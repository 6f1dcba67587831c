"""The event log: every observed change becomes an `events` row in the transaction of the change.

`record` is the one way to write events. Its single statement also fans each event out to the
webhook endpoints that want it (one `webhook_deliveries` row per event x endpoint), so nothing
accepted depends on Redis or on a worker being up. After the commit it publishes a wake-up on
Redis pub/sub (a ping, never the event) and the delivery tasks: both are reminders, the rows
are the truth (services/webhooks.py sweeps deliveries whose task was lost).

Readers follow the log by id (`LogReader`). Ids come from a sequence, so a transaction that took
id 10 may commit after one that took 11: a reader that moved past 10 would miss it. Every writer
holds a shared transaction-level advisory lock from before it takes its ids until it ends;
a reader that sees a hole in the ids waits until every writer that held the lock when it saw the
hole has ended, then reads again: the hole is filled, or it was a rollback and stays empty.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Any

import redis
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from core.db import after_commit
from core.redis import Keys, get_redis
from core.settings import current_settings
from services.representations import JobSchema, MessageSchema

log = logging.getLogger(__name__)

MESSAGE_TYPES = ("message.queued", "message.sending", "message.sent", "message.delivered", "message.read",
                 "message.failed", "message.received")
EVENT_TYPES = (*MESSAGE_TYPES, "session.state", "session.qr", "job.progress", "job.finished", "schedule.run",
               "alert.raised", "alert.resolved", "contact.opt_out", "group.participant_changed")
QR_TYPE = "session.qr"
LOCK_KEY = 0x6576_7473  # the writers' shared advisory lock ('evts'): classid 0, objid this, objsubid 1
PROGRESS_EVERY_MS = 1000  # job.progress at most once a second per job

_RECORD = text("""
WITH writer AS (SELECT pg_advisory_xact_lock_shared(:lock)),
new AS (
    INSERT INTO events (type, session, payload)
    SELECT :type, :session, item.payload
    FROM writer, jsonb_array_elements(CAST(:payloads AS jsonb)) WITH ORDINALITY AS item(payload, n)
    ORDER BY item.n
    RETURNING id, type, session
)
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at)
SELECT gen_random_uuid(), w.id, new.id, new.type, 'PENDING', 0, now(), now()
FROM new JOIN webhook_endpoints w
  ON w.active AND new.type = ANY(w.event_types) AND (w.session IS NULL OR w.session = new.session)
RETURNING id
""")


def record(session: Session, type_: str, session_name: str | None, payloads: Sequence[dict[str, Any]]) -> None:
    """Write one event of `type_` per payload (a resource's public representation, JSON-ready) in
    the caller's transaction; the caller's boundary commits. One statement whatever the count."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    if not payloads:
        return
    deliveries = session.execute(_RECORD, {"lock": LOCK_KEY, "type": type_, "session": session_name,
                                           "payloads": json.dumps(list(payloads), default=str)}).scalars().all()
    pending = session.info.get("events_pending")
    if pending is None:  # the first event of this transaction: one wake-up after its commit
        pending = session.info["events_pending"] = {"deliveries": []}
        after_commit(session, lambda: _after_commit(session.info.pop("events_pending", pending)))
    pending["deliveries"] += deliveries


def _after_commit(pending: dict) -> None:
    if pending["deliveries"]:
        from services import webhooks  # webhooks imports this module

        webhooks.publish_deliveries(pending["deliveries"])
    _waker.wake(get_redis(), channel())


def channel() -> str:
    """The wake-up channel of this database (gateways, tests and benchmarks may share a Redis)."""
    return _channel_of(current_settings().database_url)


@lru_cache(maxsize=8)
def _channel_of(database_url: str) -> str:
    return Keys.events_wake(make_url(database_url).database)


class _Waker:
    """Publishes wake-ups from a thread of its own: a request never waits for that round trip,
    and commits that land together share one wake-up. Losing one (a crash, Redis away) costs a
    reader at most its poll interval: the rows are the truth."""

    def __init__(self):
        self._pending: set[tuple[redis.Redis, str]] = set()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def wake(self, client: redis.Redis, name: str) -> None:
        with self._ready:
            self._pending.add((client, name))
            if self._thread is None or not self._thread.is_alive():  # a forked child starts its own
                self._thread = threading.Thread(target=self._run, name="events-waker", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._pending)
                pending, self._pending = self._pending, set()
            for client, name in pending:
                try:
                    client.publish(name, 1)
                except redis.RedisError as exc:
                    log.warning("could not publish the events wake-up: %s", exc)


_waker = _Waker()


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, previous_transaction) -> None:
    """A rolled-back transaction's events never happened (core.db drops its after-commit work too),
    and the next transaction must register its own wake-up."""
    if previous_transaction.parent is None:
        session.info.pop("events_pending", None)


# -- the public representations (the same dumps the REST API answers with) -----------------------
@lru_cache(maxsize=1)
def _message_schema():
    return MessageSchema()


_ROW_DEFAULTS = {name: None for name in (
    "sender_name", "lid", "timestamp", "media_url", "media_id", "media_type", "filename", "mimetype", "caption", "wa_message_id", "error_type",
    "error_message", "sending_at", "sent_at", "delivered_at", "read_at", "failed_at")}


def message_payload(message) -> dict:
    """A message (an ORM row, or the column dict of a row being inserted) as GET /messages/{id} shows it."""
    if isinstance(message, dict):
        message = {**_ROW_DEFAULTS, **message}
    return _message_schema().dump(message)


def message_changed(session: Session, type_: str, messages: Iterable, *, progress: bool = True) -> None:
    """Record `type_` for these messages (of one session each) and, unless told not to, the
    progress of their bulk jobs."""
    by_session: dict[str, list[dict]] = {}
    jobs = set()
    for message in messages:
        get = message.get if isinstance(message, dict) else lambda name, m=message: getattr(m, name)
        by_session.setdefault(get("session"), []).append(message_payload(message))
        if progress and get("bulk_job_id") is not None:
            jobs.add(get("bulk_job_id"))
    for name, payloads in by_session.items():
        record(session, type_, name, payloads)
    for job_id in jobs:
        job_progress(session, job_id)


def job_progress(session: Session, job_id, *, final: bool = False) -> None:
    """`job.progress`, at most once a second per job (a Redis key throttles it), or `job.finished`."""
    from models import BulkJob
    from services import bulk

    if not final:
        try:
            if not get_redis().set(Keys.job_progress_event(job_id), 1, nx=True, px=PROGRESS_EVERY_MS):
                return
        except redis.RedisError:
            return  # progress is a convenience; job.finished is what a receiver must not miss
    job = session.get(BulkJob, job_id)
    if job is None:
        return
    record(session, "job.finished" if final else "job.progress", job.session,
           [JobSchema().dump(bulk.progress(session, job))])


def schedule_run_payload(schedule, run) -> dict:
    """A run as GET /api/scheduled/{id}/runs lists it (its messages by id: the message events
    carry them), with the schedule's id."""
    return {"scheduleId": str(schedule.id), "id": run.id, "dueAt": run.due_at.isoformat(),
            "ranAt": run.ran_at.isoformat(), "outcome": run.outcome, "reason": run.reason,
            "jobId": str(run.bulk_job_id) if run.bulk_job_id else None,
            "messageId": str(run.message_id) if run.message_id else None}


def session_state(session: Session, session_name: str, state: dict[str, Any]) -> None:
    record(session, "session.state", session_name, [{"session": session_name, **state}])


def session_qr(session: Session, session_name: str, qr: str, qr_at: str) -> None:
    record(session, "session.qr", session_name, [{"session": session_name, "qr": qr, "qrAt": qr_at}])


def alert(session: Session, session_name: str | None, message: str, source: str, **details) -> None:
    record(session, "alert.raised", session_name,
           [{"session": session_name, "message": message, "source": source, **details}])


def purge(session: Session, retention_days: int) -> int:
    """Drop events older than the retention (their delivered or given-up deliveries go too)."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
    last = session.execute(text("SELECT max(id) FROM events WHERE at < :cutoff"), {"cutoff": cutoff}).scalar()
    if last is None:
        return 0
    session.execute(text("DELETE FROM webhook_deliveries WHERE event_id <= :last AND status <> 'PENDING'"),
                    {"last": last})
    return session.execute(text("DELETE FROM events WHERE id <= :last"), {"last": last}).rowcount


# -- reading the log in order -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LoggedEvent:
    id: int
    type: str
    session: str | None
    at: datetime
    payload: dict

    def wire(self) -> str:
        """The JSON every receiver gets (SSE data, webhook body): the id and time order events."""
        return json.dumps({"id": self.id, "type": self.type, "session": self.session,
                           "timestamp": self.at.isoformat(), "data": self.payload}, default=str)

    @cached_property
    def sse(self) -> str:
        """The event as one SSE message, encoded once however many streams send it."""
        return f"id: {self.id}\nevent: {self.type}\ndata: {self.wire()}\n\n"


_HOLDERS = text("""
SELECT virtualtransaction FROM pg_locks
WHERE locktype = 'advisory' AND classid = 0 AND objid = :lock AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
""")
_AFTER = text("SELECT id, type, session, at, payload FROM events WHERE id > :after ORDER BY id LIMIT :limit")


@dataclass
class LogReader:
    """Reads the log from `cursor` on, handing out only ids that can no longer be overtaken.

    `cursor` is the last id handed out (or a hole known to stay empty). A hole is waited for
    until every writer that held the lock when it was seen has ended (see the module's docstring)."""

    cursor: int
    hole: int | None = None  # the first missing id after the cursor
    hole_writers: frozenset[str] = field(default_factory=frozenset)

    def read(self, conn: Connection, limit: int = 1000) -> list[LoggedEvent]:
        writers_before = None
        if self.hole is not None:
            writers_before = {r[0] for r in conn.execute(_HOLDERS, {"lock": LOCK_KEY})}
        rows = conn.execute(_AFTER, {"after": self.cursor, "limit": limit}).all()
        conn.rollback()  # never idle in a transaction between reads
        ready: list[LoggedEvent] = []
        expected = self.cursor + 1
        for row in rows:
            if row.id != expected:
                if self.hole == expected and writers_before is not None and not (self.hole_writers & writers_before):
                    pass  # every writer that could fill it has ended and it is still empty: a rollback
                else:
                    if self.hole != expected:
                        self.hole = expected
                        self.hole_writers = frozenset(r[0] for r in conn.execute(_HOLDERS, {"lock": LOCK_KEY}))
                        conn.rollback()
                    break
            ready.append(LoggedEvent(row.id, row.type, row.session, row.at, row.payload))
            expected = row.id + 1
        if ready:
            self.cursor = ready[-1].id
            if self.hole is not None and self.hole <= self.cursor:
                self.hole, self.hole_writers = None, frozenset()
        return ready

    @property
    def waiting(self) -> bool:
        """Whether it waits for a hole to settle (read again soon rather than at the next wake-up)."""
        return self.hole is not None


def last_id(conn: Connection) -> int:
    value = conn.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar()
    conn.rollback()
    return value
