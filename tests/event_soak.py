"""A soak of the event path: page events (acks, incoming messages) -> the worker -> PostgreSQL.

`run_soak` repeats send -> acks -> incoming against the simulator and a real worker, then counts
every message event the simulator handed to the page (`GET /sim/events`) against the row change it
must cause: ack 1 -> `sent_at`, ack 2 -> `delivered_at`, ack 3 -> `read_at` (and the status at least
that far), an incoming message -> its row. Used by tests/test_event_path.py (a few tens of rounds)
and by the benchmark tests/benchmarks/bench_events.py (a few hundred).
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from core.db import db
from core.redis import get_redis
from models import Message
from models.enums import Direction, MessageStatus
from services import contacts, messages
from services.messages import ACK_STATUS, ORDER
from services.phones import check_number
from worker.delivery import pending_ack_key

# Ack delays (ms) drawn per message: delivered/read acks often come before the send call returns
# (the page answers a send only once it has seen an ack, up to a poll of 150 ms later), so before
# the send's commit, and as often after it.
RANDOM_ACKS = {"serverMs": [0, 60], "deliveredMs": [0, 300], "readMs": [0, 600]}
ACK_COLUMN = {1: "sent_at", 2: "delivered_at", 3: "read_at", 4: "read_at"}
WORKER_ENV = {"SEND_MIN_INTERVAL_MS": "0", "SEND_JITTER_MS": "0", "SEND_MAX_PER_SECOND": "1000"}


@dataclass
class SoakReport:
    rounds: int
    events: int = 0  # message events the page was handed
    lost: list[dict] = field(default_factory=list)  # events without their row change
    delays: list[tuple[float, dict]] = field(default_factory=list)  # (seconds page -> row, event)
    parked_left: int = 0  # acks still parked in Redis at the end: nobody will ever apply them

    @property
    def slowest(self) -> tuple[float, dict] | None:
        return max(self.delays, key=lambda d: d[0], default=None)


def run_soak(sim, session_name: str, rounds: int, *, first_number: int, settle_seconds: float = 20,
             gap_seconds: float = 0.03, seed: int | None = None) -> SoakReport:
    """`rounds` times: queue a message to a new number and have that number write to us, a random
    gap apart; then wait until every event has its row change, or `settle_seconds` without progress."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:10]
    after = max((e["seq"] for e in sim.emitted()), default=0)
    phones = [check_number(str(first_number + i), "IT") for i in range(rounds)]
    for phone in phones:  # known to be on WhatsApp: no existence query between the sends
        contacts.record_existence(db, phone.formatted, True)
    db.commit()
    ids, incoming = [], set()
    for i, phone in enumerate(phones):
        ids += [queued.id for queued in messages.enqueue(db, session_name=session_name, phones=[phone],
                                                         bodies=f"soak {tag} {i}", user_id=None)]
        db.commit()  # publishes the send task
        time.sleep(rng.uniform(0, gap_seconds))
        incoming.add(sim.incoming(phone.formatted.lstrip("+"), f"soak reply {tag} {i}"))
        time.sleep(rng.uniform(0, gap_seconds))
    report = SoakReport(rounds)
    progress, last_change = None, time.monotonic()
    while True:
        complete = _count(sim, session_name, tag, ids, incoming, after, report)
        report.parked_left = sum(1 for _ in get_redis().scan_iter(pending_ack_key(session_name, "*")))
        if complete and not report.lost:
            return report
        state = (report.events, len(report.lost))
        if state != progress:
            progress, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > settle_seconds:
            return report
        time.sleep(0.5)


def _count(sim, session_name: str, tag: str, ids: list, incoming: set[str], after: int,
           report: SoakReport) -> bool:
    """Match the events so far with the rows; True once the simulator has emitted all it will
    (every message arrived and was read, every incoming message was handed to the page)."""
    sent = {m["id"]: m["body"] for m in sim.messages() if tag in (m.get("body") or "")}
    db.expire_all()
    rows = {row.body: row for row in db.scalars(select(Message).where(Message.id.in_(ids)))}
    received = {row.wa_message_id: row for row in db.scalars(select(Message).where(
        Message.session == session_name, Message.direction == Direction.INCOMING.value,
        Message.wa_message_id.in_(incoming)))}
    db.rollback()
    events = [e for e in sim.emitted(after) if set(e["ids"]) & (incoming | set(sent))]
    report.events, report.lost, report.delays = len(events), [], []
    for event in events:
        for wa_id in event["ids"]:
            if event["ack"] is None:
                row, column = received.get(wa_id), "created_at"
            else:
                row, column = rows.get(sent.get(wa_id)), ACK_COLUMN[event["ack"]]
            status = row.status if row is not None else None
            if event["ack"] is not None and row is not None and (
                    row.wa_message_id != wa_id
                    or ORDER.get(MessageStatus(row.status), -1) < ORDER[ACK_STATUS[event["ack"]]]):
                row = None  # the row has not reached the status of this ack
            changed = getattr(row, column) if row is not None else None
            if changed is None or event["pageAt"] is None:
                report.lost.append({**event, "id": wa_id, "row": status})
            else:
                report.delays.append((changed.timestamp() - event["pageAt"], {**event, "id": wa_id}))
    read = {wa_id for e in events if e["ack"] == 3 for wa_id in e["ids"]}
    handed = {wa_id for e in events if e["ack"] is None and e["pageAt"] for wa_id in e["ids"]}
    return len(sent) == len(ids) and read >= set(sent) and handed >= incoming
