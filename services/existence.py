"""WhatsApp-existence checks ("has this number WhatsApp?"): cached on the contact, asked otherwise.

The API creates a check job (one number or a batch) and publishes its first step; the session's
worker runs `step`: it answers cached numbers at once and asks WhatsApp for at most one number per
step, paced apart from sends (`worker.pacer.check_pacer`). A step that must wait re-publishes
itself with a short countdown, so no task ever holds the worker long.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import after_commit
from models import CheckJob, Contact
from services import contacts, dispatch
from services.messages import now

CACHED_PER_STEP = 500  # cached answers a step may skip over before it yields


def create_job(session: Session, *, session_name: str, numbers: list[str], user_id: str | None) -> CheckJob:
    """A RUNNING job over `numbers` (E.164 digits); its first step is published after commit."""
    numbers = list(dict.fromkeys(numbers))
    job = CheckJob(id=uuid.uuid4(), session=session_name, created_by=user_id, numbers=numbers, position=0,
                   status="RUNNING")
    session.add(job)
    session.flush()
    batch = len(numbers) > 1
    after_commit(session, lambda: dispatch.publish_check(job.id, session_name, batch=batch))
    return job


def answers(session: Session, numbers: list[str], ttl_hours: int) -> dict[str, Contact]:
    """Contacts of `numbers` whose existence answer is still fresh."""
    if not numbers:
        return {}
    fresh = now() - timedelta(hours=ttl_hours)
    rows = session.scalars(select(Contact).where(Contact.phone_number.in_(numbers),
                                                 Contact.has_whatsapp.is_not(None),
                                                 Contact.whatsapp_checked_at >= fresh))
    return {c.phone_number: c for c in rows}


def progress(session: Session, job: CheckJob, ttl_hours: int) -> dict:
    known = answers(session, job.numbers[:job.position], ttl_hours)
    results = [{"phoneNumber": n, "hasWhatsApp": known[n].has_whatsapp, "isBusiness": known[n].is_business,
                "checkedAt": known[n].whatsapp_checked_at} for n in job.numbers[:job.position] if n in known]
    return {"jobId": job.id, "status": job.status, "total": len(job.numbers), "checked": job.position,
            "pending": len(job.numbers) - job.position, "error": job.error, "results": results,
            "createdAt": job.created_at, "finishedAt": job.finished_at}


def finish(job: CheckJob, status: str = "DONE", error: str | None = None) -> None:
    job.status, job.error, job.finished_at = status, error, now()


def skip_cached(session: Session, job: CheckJob, ttl_hours: int) -> str | None:
    """Advance over numbers whose answer is cached; the next number to ask, or None when done."""
    window = job.numbers[job.position:job.position + CACHED_PER_STEP]
    known = answers(session, window, ttl_hours)
    for number in window:
        if number not in known:
            return number
        job.position += 1
    if job.position >= len(job.numbers):
        finish(job)
    return None


def record(session: Session, job: CheckJob, number: str, found: dict | None) -> None:
    contacts.record_existence(session, number, found is not None,
                              bool(found.get("biz")) if isinstance(found, dict) else None)
    job.position += 1
    if job.position >= len(job.numbers):
        finish(job)
