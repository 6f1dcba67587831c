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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import redis
from sqlalchemy import func, insert, literal_column, or_, select, update
from sqlalchemy.orm import Session

from core import metrics
from core.db import after_commit
from core.errors import GatewayError
from core.redis import Keys, get_redis
from models import Message, MessageEvent
from models.enums import Direction, MessageStatus
from services import dispatch, events, lids

if TYPE_CHECKING:
    from services.media import Stored

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


def strip_control(text: str) -> str:
    """Control characters removed (CR included: CRLF becomes LF); newlines and tabs kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


def sanitise_text(text: str) -> str:
    """Strip control characters (CR included: CRLF becomes LF) but keep newlines and tabs."""
    cleaned = strip_control(text)
    if not cleaned.strip():
        raise GatewayError(422, "message is empty after removing control characters",
                           details={"message": ["must contain visible text"]})
    if len(cleaned) > MAX_TEXT_LENGTH:
        raise GatewayError(422, f"message longer than {MAX_TEXT_LENGTH} characters",
                           details={"message": [f"at most {MAX_TEXT_LENGTH} characters"]})
    return cleaned


class Recipient(Protocol):
    """Whom a message goes to: a person (services.phones.PhoneCheck: `formatted` digits) or a group
    (services.groups.GroupRecipient: no number, `chat_id` `...@g.us`)."""

    @property
    def formatted(self) -> str | None: ...

    @property
    def chat_id(self) -> str: ...


def new_outgoing(*, session_name: str, phone: Recipient, body: str | None, user_id: str | None,
                 bulk_job_id=None, template_id=None, scheduled_message_id=None,
                 idempotency_key: str | None = None, media: Stored | None = None) -> dict:
    """Column values of a QUEUED outgoing row (a dict, so bulk inserts skip the ORM's per-row cost).
    With a `media` attachment the text is its caption."""
    attachment = {"media_id": None, "media_type": None, "mimetype": None, "filename": None, "caption": None}
    if media is not None:
        attachment = {"media_id": media.id, "media_type": media.kind, "mimetype": media.mimetype,
                      "filename": media.filename, "caption": body or None}
        body = None
    row_id = uuid.uuid4()
    return {**attachment, "media_url": media_path(row_id) if media is not None else None,
        "id": row_id, "session": session_name, "direction": Direction.OUTGOING.value,
        "status": MessageStatus.QUEUED.value, "phone_number": phone.formatted, "chat_id": phone.chat_id,
        "body": body, "from_me": True, "is_group_msg": phone.chat_id.endswith("@g.us"), "attempts": 0,
        "user_id": user_id,
        "bulk_job_id": bulk_job_id, "template_id": template_id,
        "scheduled_message_id": scheduled_message_id, "idempotency_key": idempotency_key,
        "task_id": str(uuid.uuid4()), "created_at": now(),
    }


def media_path(message_id) -> str:
    """Where the API serves a message's attachment (web/api/messages.py)."""
    return f"/api/whatsapp/messages/{message_id}/media"


@dataclass(frozen=True, slots=True)
class Queued:
    """What a caller needs of a row it queued (an ORM instance costs ~100 us per row)."""

    id: uuid.UUID
    status: str
    session: str
    task_id: str
    phone_number: str | None  # None for a group (see Recipient)


# Above this many rows one COPY beats a multi-row INSERT (measured: 10,000 rows 0.4 s against 4 s).
COPY_FROM_ROWS = 50


def enqueue(session: Session, *, session_name: str, phones: Sequence[Recipient],
            bodies: str | None | Sequence[str | None], user_id: str | None, bulk_job_id=None, template_id=None,
            scheduled_message_id=None, media: Stored | None = None) -> list[Queued]:
    """THE way to queue outgoing messages: every route and job that sends goes through here.

    Writes one QUEUED row per phone in `session`'s transaction (the caller's boundary commits) and
    registers their publication for after the commit: one send task per row, or, for the rows of
    a bulk job, the first step of the job's chain. Nothing is published if the transaction rolls
    back; a publish that fails after the commit leaves the rows QUEUED for the outbox sweeper.

    `media` (services/media.py, stored once) is attached to every row, the text being its caption."""
    texts = [bodies] * len(phones) if bodies is None or isinstance(bodies, str) else list(bodies)
    if len(texts) != len(phones):
        raise ValueError(f"{len(phones)} recipients but {len(texts)} bodies")
    rows = [new_outgoing(session_name=session_name, phone=phone, body=text, user_id=user_id,
                         bulk_job_id=bulk_job_id, template_id=template_id,
                         scheduled_message_id=scheduled_message_id, media=media)
            for phone, text in zip(phones, texts)]
    if not rows:
        return []
    _insert_rows(session, rows)
    events.message_changed(session, "message.queued", rows, progress=False)
    queued = [Queued(row["id"], row["status"], session_name, row["task_id"], row["phone_number"]) for row in rows]
    after_commit(session, lambda: metrics.count_status(session_name, MessageStatus.QUEUED.value, number=len(rows)))
    if bulk_job_id is None:
        after_commit(session, lambda: _publish_each(queued))
    else:
        after_commit(session, lambda: _start_chain(bulk_job_id, session_name))
    return queued


def _insert_rows(session: Session, rows: list[dict]) -> None:
    session.flush()  # a pending job or schedule row the messages reference goes first
    if len(rows) < COPY_FROM_ROWS:
        session.execute(insert(Message.__table__), rows)
        return
    # One COPY in the session's transaction: the statement-level counting triggers fire once.
    columns = list(rows[0])
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY {Message.__tablename__} ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def _publish_each(queued: list[Queued]) -> None:
    for item in queued:
        try:
            dispatch.publish_send(item.id, item.session, item.task_id)
        except dispatch.PUBLISH_ERRORS as exc:
            log.warning("could not publish message %s (%s); the outbox sweeper will", item.id, exc)
            return  # the broker is away: the sweeper publishes every row still QUEUED


def _start_chain(job_id, session_name: str) -> None:
    try:
        dispatch.start_chain(job_id, session_name)
    except dispatch.PUBLISH_ERRORS as exc:
        log.warning("could not start the chain of job %s (%s); the outbox sweeper will", job_id, exc)


def add_event(session: Session, message_id, status: str, error_type: str | None = None,
              detail: str | None = None) -> None:
    session.add(MessageEvent(message_id=message_id, status=status, error_type=error_type, detail=detail))


def claim_for_sending(session: Session, message_id) -> Message | None:
    """QUEUED -> SENDING, atomically: a second task for the same row gets None and does nothing."""
    message = session.scalars(  # one round trip: the claimed row comes back with the UPDATE
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.QUEUED.value,
               or_(Message.not_before.is_(None), Message.not_before <= now() + timedelta(seconds=1)))
        .values(status=MessageStatus.SENDING.value, sending_at=now(), attempts=Message.attempts + 1)
        .returning(Message),
        execution_options={"populate_existing": True},
    ).first()
    if message is not None:
        events.message_changed(session, "message.sending", [message])
    return message


def still_claimed(session: Session, message: Message) -> bool:
    """Lock the row until commit if it is still in the SENDING of `message`'s claim: each claim
    stamps `sending_at`, so a later claim (by the worker that took the session over) differs."""
    row = session.execute(select(Message.sending_at).where(
        Message.id == message.id, Message.status == MessageStatus.SENDING.value).with_for_update()).first()
    return row is not None and row.sending_at == message.sending_at


def _announce_settled(session: Session, message_id) -> None:
    """After the commit, wake whoever waits for this message to be sent or to fail (an API request
    with `Prefer: wait`, web/prefer_wait.py): its id on one pub/sub channel. Only a wake-up: the
    waiter reads the outcome from the row. Lost (Redis away), the waiter answers 202 at its time."""

    def publish() -> None:
        try:
            get_redis().publish(Keys.message_settled(), str(message_id))
        except redis.RedisError as exc:
            log.warning("could not announce message %s settled: %s", message_id, exc)

    after_commit(session, publish)


def mark_sent(session: Session, message: Message, wa_message_id: str | None) -> None:
    message.status = MessageStatus.SENT.value
    message.sent_at = message.sent_at or now()
    message.wa_message_id = wa_message_id
    message.error_type = None
    message.not_before = None
    events.message_changed(session, "message.sent", [message])
    _announce_settled(session, message.id)
    _count_once_committed(session, message, MessageStatus.SENT)


def _count_once_committed(session: Session, message: Message, *statuses: MessageStatus) -> None:
    """Metrics of the transitions, once they are on record (a rolled-back change counts nothing)."""
    after_commit(session, lambda: [metrics.observe_transition(message, status.value) for status in statuses])


def mark_failed(session: Session, message: Message, error_type: str, detail: str) -> None:
    message.status = MessageStatus.FAILED.value
    message.failed_at = now()
    message.error_type = error_type
    message.error_message = detail[:2000]
    add_event(session, message.id, MessageStatus.FAILED.value, error_type, detail[:2000])
    events.message_changed(session, "message.failed", [message])
    _announce_settled(session, message.id)
    _count_once_committed(session, message, MessageStatus.FAILED)


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
    events.message_changed(session, "message.queued", [message])
    if count_attempt:  # a wait for the connection or for pacing is not a retry of a failed attempt
        after_commit(session, lambda: metrics.RETRIES.labels(message.session, error_type or "").inc())


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
    if message is None and (own_id := lids.key_id(wa_message_id)) != wa_message_id:
        # the same message of ours under the chat's other form (`@lid` / `@c.us`, see services/lids.py)
        message = session.scalar(select(Message).where(
            Message.session == session_name, Message.from_me.is_(True),
            func.split_part(Message.wa_message_id, literal_column("'_'"), literal_column("3")) == own_id)
            .limit(1).with_for_update())
    if message is None:
        return AckResult.UNKNOWN
    if message.status == MessageStatus.FAILED.value:
        return AckResult.STALE
    current = MessageStatus(message.status)
    if ORDER[target] <= ORDER[current]:
        return AckResult.STALE
    at = at or now()
    # a READ ack implies the message was delivered: fill the skipped steps' times too
    passed = [status for status, rank in ORDER.items() if ORDER[current] < rank <= ORDER[target]]
    for status in passed:
        if status in _TIMESTAMP:
            column = _TIMESTAMP[status]
            if getattr(message, column) is None:
                setattr(message, column, at)
    message.status = target.value
    events.message_changed(session, f"message.{target.value.lower()}", [message])
    _count_once_committed(session, message, *(status for status in passed if status != MessageStatus.SENDING))
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


def mark_read(session: Session, rows: Sequence[Message]) -> list[Message]:
    """Mark incoming messages READ (the API's /messages/{id}/read, the panel's conversation) and,
    after commit, send the read receipt: one per chat, since WhatsApp reads a chat, not a message.
    -> the rows that changed."""
    changed = [m for m in rows if m.direction == Direction.INCOMING.value and m.status != MessageStatus.READ.value]
    for message in changed:
        message.status = MessageStatus.READ.value
        message.read_at = now()
    if changed:
        events.message_changed(session, "message.read", changed)
    receipts = {(m.session, m.chat_id): m.id for m in changed}  # the last row of each chat carries it
    for (session_name, _chat), message_id in receipts.items():
        after_commit(session, lambda message_id=message_id, name=session_name: dispatch.publish_mark_read(
            message_id, name))
    return changed
