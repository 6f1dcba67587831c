"""Bulk jobs: many recipients, one text, sent by a chain of short tasks on the session's bulk queue
(started by `dispatch.start_chain`)."""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import after_commit
from core.errors import GatewayError
from core.redis import Keys, get_redis
from models import BulkJob, Message
from models.enums import JobStatus, MessageStatus
from services import events, optout
from services.messages import enqueue, now
from services.phones import check_number

MAX_RECIPIENTS = 10_000
CANCELLED = "CANCELLED"  # error_type of rows a cancel stopped before sending


def split_recipients(recipients: Iterable, country: str) -> tuple[list, list[dict]]:
    """(valid PhoneChecks without duplicates, in the caller's order; invalid ones with reasons)."""
    valid, invalid, seen = [], [], set()
    for raw in recipients:
        check = check_number(raw, country, describe=False)
        if not check.is_valid:
            invalid.append({"number": check.input, "reason": check.error})
        elif check.formatted not in seen:
            seen.add(check.formatted)
            valid.append(check)
    return valid, invalid


def create_job(session: Session, *, session_name: str, recipients: list, body: str | list[str], country: str,
               user_id: str | None, kind: str = "bulk", template_id=None, scheduled_message_id=None,
               valid=None, invalid=None, media=None) -> tuple[BulkJob, list, list[dict]]:
    """Insert the job and queue one message per valid recipient (`messages.enqueue`, which starts
    the job's chain after the commit).

    `body` is one text for everyone, or one text per valid recipient (templates); `media` (stored
    once, services/media.py) is attached to every message, the text being its caption."""
    if valid is None:
        if len(recipients) > MAX_RECIPIENTS:
            raise GatewayError(422, f"at most {MAX_RECIPIENTS} recipients per job",
                               details={"recipients": [f"{len(recipients)} given"]})
        valid, invalid = split_recipients(recipients, country)
    valid, invalid, body = _without_opted_out(session, valid, invalid or [], body)
    job = BulkJob(id=uuid.uuid4(), kind=kind, status=JobStatus.RUNNING.value, session=session_name,
                  created_by=user_id, template_id=template_id, total=len(valid), invalid=invalid or [])
    session.add(job)
    if valid:
        enqueue(session, session_name=session_name, phones=valid, bodies=body, user_id=user_id,
                bulk_job_id=job.id, template_id=template_id, scheduled_message_id=scheduled_message_id,
                media=media)
    else:
        job.status = JobStatus.DONE.value
        job.finished_at = now()
        events.job_progress(session, job.id, final=True)
    return job, valid, invalid or []


def _without_opted_out(session: Session, valid: list, invalid: list[dict], body: str | list[str]):
    """Opted-out recipients leave the job (with their per-recipient text) and join its report."""
    out = optout.opted_out(session, [phone.formatted for phone in valid])
    if not out:
        return valid, invalid, body
    keep = [i for i, phone in enumerate(valid) if phone.formatted not in out]
    skipped = [{"number": phone.formatted, "reason": optout.OPTED_OUT_REASON} for phone in valid
               if phone.formatted in out]
    body = body if isinstance(body, str) else [body[i] for i in keep]
    return [valid[i] for i in keep], [*invalid, *skipped], body


def progress(session: Session, job: BulkJob) -> dict:
    counts = dict(session.execute(
        select(Message.status, func.count()).where(Message.bulk_job_id == job.id).group_by(Message.status)).all())
    failures = dict(session.execute(
        select(Message.error_type, func.count())
        .where(Message.bulk_job_id == job.id, Message.status == MessageStatus.FAILED.value)
        .group_by(Message.error_type)).all())
    return {
        "jobId": str(job.id), "status": job.status, "kind": job.kind, "total": job.total,
        "queued": counts.get("QUEUED", 0) + counts.get("SENDING", 0),
        "sent": counts.get("SENT", 0), "delivered": counts.get("DELIVERED", 0), "read": counts.get("READ", 0),
        "failed": counts.get("FAILED", 0), "failedByType": failures,
        "invalid": job.invalid, "createdAt": job.created_at, "finishedAt": job.finished_at,
        "cancelledAt": job.cancelled_at,
    }


def cancel(session: Session, job: BulkJob) -> int:
    """Stop what is not yet sent: QUEUED rows end FAILED/CANCELLED; a row being sent finishes."""
    if job.status != JobStatus.RUNNING.value:
        raise GatewayError(409, f"job is {job.status}, only a RUNNING job can be cancelled")
    stopped = session.scalars(
        update(Message).where(Message.bulk_job_id == job.id, Message.status == MessageStatus.QUEUED.value)
        .values(status=MessageStatus.FAILED.value, error_type=CANCELLED, failed_at=now(),
                error_message="cancelled before sending").returning(Message),
        execution_options={"populate_existing": True}).all()
    events.message_changed(session, "message.failed", stopped, progress=False)
    job.status = JobStatus.CANCELLED.value
    job.cancelled_at = now()
    events.job_progress(session, job.id, final=True)
    after_commit(session, lambda: get_redis().delete(Keys.bulk_chain(job.id)))
    return len(stopped)
