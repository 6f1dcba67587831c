"""Personal data (GDPR): retention, erasure and export of one person's data.

The gateway's users are data controllers for what their customers write. Personal data here: phone
numbers and LIDs, names (contact name, pushname, a message's sender name), message bodies, captions,
media, and any text that quotes them (error details, audit details, idempotency answers).

* Retention (`purge_expired`, run by beat in short batches): message bodies, captions, sender names
  and media older than MESSAGE_RETENTION_DAYS are blanked (the rows stay, so the statistics do not
  change), and contacts without messages untouched for CONTACT_RETENTION_DAYS are deleted.
* Erasure (`erase`): everything that names one number, table by table (the event log and webhook
  deliveries included); the audit log keeps that an erasure happened with a keyed hash of the number
  (`number_hash`), never the number. Events never outlive the messages they describe
  (`Settings.events_keep_days`).
* Export (`export_zip`): a zip of the contact, every message with its history and the media files,
  written as it streams.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import String, cast, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from core.settings import Settings
from models import (AuditLog, BulkJob, CheckJob, Contact, ErrorCounter, Event, IdempotencyKey, Message,
                    MessageDailyPhone, MessageEvent, ScheduledMessage, ScheduledRun, WebhookDelivery)
from models.enums import MessageStatus
from models.messages import HOLDS_CONTENT
from services import audit, media, messages
from services.messages import now

log = logging.getLogger(__name__)

ERASED = "[erased]"
PURGE_BATCH = 1000  # rows per transaction: a purge never holds locks long, sends go on meanwhile


def number_hash(phone_number: str, settings: Settings) -> str:
    """A keyed hash of a number: the same number gives the same hash (erasures can be matched up
    later by whoever holds the key), and the hash alone does not give the number back."""
    return hmac.new(settings.jwt_secret.encode(), phone_number.encode(), hashlib.sha256).hexdigest()[:32]


# -- erasure ---------------------------------------------------------------------------------------
def erase(session: Session, phone_number: str, settings: Settings) -> dict[str, int]:
    """Remove every trace of `phone_number` in the caller's transaction; -> rows touched per kind.
    Queued messages go first, so nothing is sent to the person after the erasure. Idempotent."""
    report: dict[str, int] = {}
    contact = session.scalar(select(Contact).where(Contact.phone_number == phone_number).with_for_update())
    lid = contact.lid if contact else None
    theirs = or_(Message.phone_number == phone_number, *([Message.lid == lid] if lid else []))
    report["queued_cancelled"] = session.execute(delete(Message).where(
        theirs, Message.status == MessageStatus.QUEUED.value)).rowcount
    files = list(session.scalars(select(Message.media_id).where(theirs, Message.media_id.is_not(None))))
    report["messages"] = session.execute(delete(Message).where(theirs)).rowcount  # history rows cascade
    # the per-number statistics rollup (counts, now all zero for the number) must not keep the number
    report["statistics_rows"] = session.execute(
        delete(MessageDailyPhone).where(MessageDailyPhone.phone_number == phone_number)).rowcount
    report["contacts"] = session.execute(delete(Contact).where(Contact.phone_number == phone_number)).rowcount
    report["media_files"] = media.release(session, files)
    hashed = number_hash(phone_number, settings)
    needles = [phone_number, *([lid] if lid else [])]
    report["schedules"] = _drop_from_schedules(session, phone_number)
    report["bulk_reports"] = _drop_from_json_lists(session, BulkJob, BulkJob.invalid, phone_number,
                                                   lambda item: item.get("number") == phone_number)
    report["check_jobs"] = _drop_from_json_lists(session, CheckJob, CheckJob.numbers, phone_number,
                                                 lambda item: item == phone_number, keep_positions=True)
    # the event log and the webhook deliveries of those events (their payloads are the messages)
    logged = list(session.scalars(select(Event.id).where(_mentions(Event.payload, needles))))
    report["webhook_deliveries"] = session.execute(delete(WebhookDelivery).where(or_(
        WebhookDelivery.event_id.in_(logged), _mentions(WebhookDelivery.payload, needles),
        _mentions(WebhookDelivery.last_response, needles)))).rowcount
    report["events"] = session.execute(delete(Event).where(Event.id.in_(logged))).rowcount
    report["idempotency_records"] = session.execute(delete(IdempotencyKey).where(
        _mentions(IdempotencyKey.response_body, needles))).rowcount
    report["error_details"] = session.execute(update(ErrorCounter).where(
        _mentions(ErrorCounter.last_message, needles)).values(last_message=None)).rowcount
    report["schedule_reasons"] = session.execute(update(ScheduledRun).where(
        _mentions(ScheduledRun.reason, needles)).values(reason=ERASED)).rowcount
    report["audit_rows"] = _scrub_audit(session, needles, hashed)
    return report


def _mentions(column, needles: list[str]):
    return or_(*[cast(column, String).contains(needle, autoescape=True) for needle in needles])


def _drop_from_schedules(session: Session, phone_number: str) -> int:
    """The number leaves every schedule; a schedule left with no recipient is cancelled."""
    rows = session.scalars(select(ScheduledMessage).where(
        ScheduledMessage.recipients.contains([phone_number])).with_for_update()).all()
    for row in rows:
        row.recipients = [number for number in row.recipients if number != phone_number]
        if not row.recipients:
            row.status, row.next_run_at = "CANCELLED", None
    return len(rows)


def _drop_from_json_lists(session: Session, model, column, phone_number: str, matches,
                          keep_positions: bool = False) -> int:
    rows = session.scalars(select(model).where(cast(column, String).contains(phone_number, autoescape=True))
                           .with_for_update()).all()
    for row in rows:
        items = getattr(row, column.key)
        if keep_positions:  # a check job's answered prefix is counted by position
            setattr(row, column.key, [ERASED if matches(item) else item for item in items])
        else:
            setattr(row, column.key, [item for item in items if not matches(item)])
    return len(rows)


def _scrub_audit(session: Session, needles: list[str], hashed: str) -> int:
    """Audit rows keep what happened, with the number replaced by its hash."""
    touched = 0
    for needle in needles:
        replacement = f"erased:{hashed}"
        touched += session.execute(update(AuditLog).where(_mentions(AuditLog.details, [needle])).values(
            details=cast(func.replace(cast(AuditLog.details, String), needle, replacement), AuditLog.details.type))
        ).rowcount
        touched += session.execute(update(AuditLog).where(AuditLog.target.contains(needle, autoescape=True)).values(
            target=func.replace(AuditLog.target, needle, replacement))).rowcount
    return touched


# -- retention -------------------------------------------------------------------------------------
@dataclass
class PurgeReport:
    messages_blanked: int = 0
    media_files: int = 0
    contacts_deleted: int = 0
    oldest_kept: datetime | None = None
    finished: bool = True
    batches: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def purge_expired(session: Session, settings: Settings, budget_seconds: float = 50.0,
                  batch: int = PURGE_BATCH) -> PurgeReport:
    """Blank what is past retention, one short transaction per batch, for at most `budget_seconds`
    (the next run goes on). Records the purge in the audit log."""
    report, started = PurgeReport(), time.monotonic()
    if settings.message_retention_days:
        cutoff = now() - timedelta(days=settings.message_retention_days)
        while time.monotonic() - started < budget_seconds:
            ids_and_media = session.execute(
                select(Message.id, Message.media_id).where(Message.created_at < cutoff, _holds_content())
                .order_by(Message.created_at).limit(batch).with_for_update(skip_locked=True)).all()
            if not ids_and_media:
                break
            ids = [row.id for row in ids_and_media]
            session.execute(update(Message).where(Message.id.in_(ids)).values(
                body=None, caption=None, sender_name=None, media_id=None, media_url=None, error_message=None))
            session.execute(update(MessageEvent).where(MessageEvent.message_id.in_(ids)).values(detail=None))
            report.media_files += media.release(session, [row.media_id for row in ids_and_media])
            session.commit()
            report.messages_blanked += len(ids)
            report.batches += 1
        else:
            report.finished = False
        report.oldest_kept = session.scalar(select(func.min(Message.created_at)).where(_holds_content()))
    if settings.contact_retention_days and report.finished:
        cutoff = now() - timedelta(days=settings.contact_retention_days)
        report.contacts_deleted = session.execute(delete(Contact).where(
            Contact.updated_at < cutoff, Contact.opted_out_at.is_(None),
            ~select(Message.id).where(Message.phone_number == Contact.phone_number).exists())).rowcount
        session.commit()
    if report.messages_blanked or report.contacts_deleted:
        audit.record(session, action="privacy.retention", outcome="success", actor="beat",
                     details={"messagesBlanked": report.messages_blanked, "mediaFiles": report.media_files,
                              "contactsDeleted": report.contacts_deleted, "finished": report.finished,
                              "oldestKept": report.oldest_kept.isoformat() if report.oldest_kept else None})
        session.commit()
    return report


def _holds_content():
    """The predicate of the partial index `ix_messages_holding_content`, word for word (PostgreSQL
    uses a partial index only for a query that implies its predicate), in parentheses: SQLAlchemy
    does not group a text clause joined by AND."""
    return text(f"({HOLDS_CONTENT})")


# -- export ----------------------------------------------------------------------------------------
class _Chunks:
    """A write-only file whose bytes are handed out as they come (zipfile writes data descriptors
    on an unseekable stream, so nothing but the current chunk is held)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def export_zip(session: Session, phone_number: str) -> Iterator[bytes]:
    """contact.json, messages.json (each message with its status history) and media/<id><ext>."""
    out = _Chunks()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        contact = session.scalar(select(Contact).where(Contact.phone_number == phone_number))
        archive.writestr("contact.json", json.dumps(_contact(contact), ensure_ascii=False, indent=2, default=str))
        yield out.take()
        theirs = or_(Message.phone_number == phone_number, *([Message.lid == contact.lid] if contact and contact.lid else []))
        files: list[tuple[Any, str]] = []
        with archive.open("messages.json", "w") as document:
            document.write(b"[")
            query = select(Message).where(theirs).order_by(Message.created_at, Message.id)
            for index, message in enumerate(session.scalars(query.execution_options(yield_per=500))):
                events = session.scalars(select(MessageEvent).where(MessageEvent.message_id == message.id)).all()
                item = _message(message, messages.history(message, list(events)))
                document.write((b"," if index else b"") + json.dumps(item, ensure_ascii=False, default=str).encode())
                if message.media_id is not None:
                    extension = mimetypes.guess_extension(message.mimetype or "") or ".bin"
                    files.append((message.media_id, f"media/{message.id}{extension}"))
                yield out.take()
            document.write(b"]")
        yield out.take()
        for media_id, name in files:  # from the media store, a chunk at a time
            with archive.open(name, "w") as target:
                for chunk in media.read_chunks(session.get_bind(), media_id):
                    target.write(chunk)
                    yield out.take()
    yield out.take()


def _contact(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {"phoneNumber": contact.phone_number, "lid": contact.lid, "name": contact.name,
            "pushname": contact.pushname, "isBusiness": contact.is_business, "hasWhatsApp": contact.has_whatsapp,
            "lastMessageAt": contact.last_message_at, "optedOutAt": contact.opted_out_at,
            "optOutReason": contact.opt_out_reason, "createdAt": contact.created_at}


def _message(message: Message, history: list[dict]) -> dict[str, Any]:
    return {"id": message.id, "session": message.session, "direction": message.direction,
            "status": message.status, "phoneNumber": message.phone_number, "lid": message.lid,
            "body": message.body, "caption": message.caption, "mimetype": message.mimetype,
            "senderName": message.sender_name, "waMessageId": message.wa_message_id,
            "createdAt": message.created_at, "history": history}


