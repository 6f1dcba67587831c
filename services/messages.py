"""The message lifecycle: queueing (API side) and every status change (worker side).

Status only moves forward: QUEUED -> SENDING -> SENT -> DELIVERED -> READ, or to FAILED. A
transient failure puts the row back to QUEUED with `not_before`; acks never move a row backwards.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import redis
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session

from core.db import after_commit, bind_of
from core.errors import GatewayError
from models import AuditLog, Message, MessageEvent
from models.enums import Direction, MessageStatus
from services import dispatch
from services.phones import PhoneCheck

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 65_536
# C0 and C1 control characters, DEL, except tab (\x09) and newline (\x0a)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

ORDER = {MessageStatus.QUEUED: 0, MessageStatus.SENDING: 1, MessageStatus.SENT: 2,
         MessageStatus.DELIVERED: 3, MessageStatus.READ: 4}
ACK_STATUS = {1: MessageStatus.SENT, 2: MessageStatus.DELIVERED, 3: MessageStatus.READ, 4: MessageStatus.READ}
_TIMESTAMP = {MessageStatus.SENDING: "sending_at", MessageStatus.SENT: "sent_at",
              MessageStatus.DELIVERED: "delivered_at", MessageStatus.READ: "read_at",
              MessageStatus.FAILED: "failed_at"}


def now() -> datetime:
    return datetime.now(timezone.utc)


def sanitise_text(text: str) -> str:
    """Strip control characters (CR included: CRLF becomes LF) but keep newlines and tabs."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n"))
    if not cleaned.strip():
        raise GatewayError(422, "message is empty after removing control characters",
                           details={"message": ["must contain visible text"]})
    if len(cleaned) > MAX_TEXT_LENGTH:
        raise GatewayError(422, f"message longer than {MAX_TEXT_LENGTH} characters",
                           details={"message": [f"at most {MAX_TEXT_LENGTH} characters"]})
    return cleaned


def new_outgoing(*, session_name: str, phone: PhoneCheck, body: str, user_id: str | None,
                 bulk_job_id=None, template_id=None, scheduled_message_id=None,
                 idempotency_key: str | None = None) -> dict:
    """Column values of a QUEUED outgoing row (a dict, so bulk inserts skip the ORM's per-row cost)."""
    return {
        "id": uuid.uuid4(), "session": session_name, "direction": Direction.OUTGOING.value,
        "status": MessageStatus.QUEUED.value, "phone_number": phone.formatted, "chat_id": phone.chat_id,
        "body": body, "from_me": True, "is_group_msg": False, "attempts": 0, "user_id": user_id,
        "bulk_job_id": bulk_job_id, "template_id": template_id,
        "scheduled_message_id": scheduled_message_id, "idempotency_key": idempotency_key,
        "task_id": str(uuid.uuid4()), "created_at": now(),
    }


_INSERT_MESSAGE = insert(Message.__table__)


def _bound(table, columns: tuple[str, ...], prefix: str) -> dict:
    return {column: bindparam(prefix + column, type_=table.c[column].type) for column in columns}


_MESSAGE_COLUMNS = ("id", "session", "direction", "status", "phone_number", "chat_id", "body", "from_me",
                    "is_group_msg", "attempts", "user_id", "bulk_job_id", "template_id", "scheduled_message_id",
                    "idempotency_key", "task_id", "created_at")
_AUDIT_COLUMNS = ("at", "action", "outcome", "actor", "actor_name", "role", "target", "ip", "status_code",
                  "details")
# The message row in a data-modifying WITH (PostgreSQL runs it whether or not it is referenced),
# the audit row as the statement itself: both rows in one round trip, and atomically.
_INSERT_MESSAGE_AND_AUDIT = (
    insert(AuditLog.__table__).values(_bound(AuditLog.__table__, _AUDIT_COLUMNS, "audit_"))
    .add_cte(insert(Message.__table__).values(_bound(Message.__table__, _MESSAGE_COLUMNS, "message_"))
             .cte("queued_message"))
)
# Compiled once and run as SQL: SQLAlchemy would rebuild the statement's cache key and process its
# 27 parameters on every /send (~70 us). The parameters are then given as psycopg takes them.
_INSERT_MESSAGE_AND_AUDIT_SQL = str(_INSERT_MESSAGE_AND_AUDIT.compile(dialect=psycopg_dialect()))


@dataclass(frozen=True, slots=True)
class Queued:
    """What the caller of queue_single needs of the row it queued (an ORM instance costs ~100 us)."""

    id: uuid.UUID
    status: str
    session: str
    task_id: str


def queue_single(session: Session, *, audit: dict | None = None, commit_alone: bool = False,
                 **values) -> Queued:
    """Insert one QUEUED row and publish its send task once the row is committed.

    A Core INSERT (the API's hottest path skips the unit of work). With `audit` (the values of
    services.audit.record), the request's audit row, targeting this message, is inserted by the
    same statement. By default the statement joins `session`'s transaction and the task is
    published when it commits. With `commit_alone` the statement commits by itself (autocommit,
    outside the session: no BEGIN or COMMIT round trip) and the task is published at once; only
    for a request that writes nothing else (/send without an Idempotency-Key)."""
    row = new_outgoing(**values)
    queued = Queued(row["id"], row["status"], row["session"], row["task_id"])
    if audit is None:
        def run(connection):
            connection.execute(_INSERT_MESSAGE, row)
    else:
        details = audit.get("details")
        audit = {**audit, "at": now(), "target": f"message:{row['id']}",
                 "details": None if details is None else Jsonb(details)}  # SQL NULL, not JSON null
        params = {**{f"message_{k}": v for k, v in row.items()}, **{f"audit_{k}": audit[k] for k in _AUDIT_COLUMNS}}

        def run(connection):
            connection.exec_driver_sql(_INSERT_MESSAGE_AND_AUDIT_SQL, params)
    bind = bind_of(session)
    # a session bound to one connection (a test's rolled-back transaction) has no pool to commit alone on
    if commit_alone and isinstance(bind, Engine):
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            run(connection)
        _publish(queued)
    else:
        session.flush()  # what session.execute would autoflush first (a pending job or schedule row it references)
        run(session.connection())
        after_commit(session, lambda: _publish(queued))
    return queued


def _publish(queued: Queued) -> None:
    """Publish the send task of a committed row. If Redis fails now, the row stays QUEUED and the
    outbox sweeper publishes it: the request, whose row is durable, still succeeds."""
    try:
        dispatch.publish_send(queued.id, queued.session, queued.task_id)
    except redis.RedisError:
        log.warning("could not publish message %s; the outbox sweeper will", queued.id, exc_info=True)


def add_event(session: Session, message_id, status: str, error_type: str | None = None,
              detail: str | None = None) -> None:
    session.add(MessageEvent(message_id=message_id, status=status, error_type=error_type, detail=detail))


def claim_for_sending(session: Session, message_id) -> Message | None:
    """QUEUED -> SENDING, atomically: a second task for the same row gets None and does nothing."""
    return session.scalars(  # one round trip: the claimed row comes back with the UPDATE
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.QUEUED.value,
               or_(Message.not_before.is_(None), Message.not_before <= now() + timedelta(seconds=1)))
        .values(status=MessageStatus.SENDING.value, sending_at=now(), attempts=Message.attempts + 1)
        .returning(Message),
        execution_options={"populate_existing": True},
    ).first()


def mark_sent(session: Session, message: Message, wa_message_id: str | None) -> None:
    message.status = MessageStatus.SENT.value
    message.sent_at = message.sent_at or now()
    message.wa_message_id = wa_message_id
    message.error_type = None
    message.not_before = None


def mark_failed(session: Session, message: Message, error_type: str, detail: str) -> None:
    message.status = MessageStatus.FAILED.value
    message.failed_at = now()
    message.error_type = error_type
    message.error_message = detail[:2000]
    add_event(session, message.id, MessageStatus.FAILED.value, error_type, detail[:2000])


def requeue(session: Session, message: Message, not_before: datetime, error_type: str | None,
            detail: str, count_attempt: bool = True) -> None:
    """Back to QUEUED for a later try; a try that never reached WhatsApp does not burn an attempt."""
    message.status = MessageStatus.QUEUED.value
    message.not_before = not_before
    message.error_type = error_type
    message.error_message = detail[:2000]
    if not count_attempt:
        message.attempts = max(0, message.attempts - 1)
    add_event(session, message.id, "RETRY", error_type, detail[:2000])


class AckResult(StrEnum):
    APPLIED = "applied"  # the row moved forward
    STALE = "stale"  # the row is already there or further (or FAILED): nothing to do, ever
    UNKNOWN = "unknown"  # no row has this WhatsApp id (yet: the send's commit may not have landed)


def apply_ack(session: Session, session_name: str, wa_message_id: str, ack: int,
              at: datetime | None = None) -> AckResult:
    """Move the row forward to the status of `ack`; never backwards."""
    target = ACK_STATUS.get(ack)
    if target is None:  # a clock (0) or an error ack: no status of ours
        return AckResult.STALE
    message = session.scalar(select(Message).where(
        Message.session == session_name, Message.wa_message_id == wa_message_id).with_for_update())
    if message is None:
        return AckResult.UNKNOWN
    if message.status == MessageStatus.FAILED.value:
        return AckResult.STALE
    current = MessageStatus(message.status)
    if ORDER[target] <= ORDER[current]:
        return AckResult.STALE
    at = at or now()
    # a READ ack implies the message was delivered: fill the skipped steps' times too
    for status, rank in ORDER.items():
        if ORDER[current] < rank <= ORDER[target] and status in _TIMESTAMP:
            column = _TIMESTAMP[status]
            if getattr(message, column) is None:
                setattr(message, column, at)
    message.status = target.value
    return AckResult.APPLIED


def history(message: Message, events: list[MessageEvent]) -> list[dict]:
    """The message's status history: each transition's time, and every retry or failure."""
    steps = [{"status": MessageStatus.QUEUED.value if message.from_me else "RECEIVED", "at": message.created_at}]
    for status, column in _TIMESTAMP.items():
        at = getattr(message, column)
        if at is not None and status != MessageStatus.FAILED:
            steps.append({"status": status.value, "at": at})
    steps += [{"status": e.status, "at": e.at, "errorType": e.error_type, "detail": e.detail} for e in events]
    return sorted(steps, key=lambda step: step["at"])
