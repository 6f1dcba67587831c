"""Tasks of the WhatsApp worker about contacts: existence-check steps and the phone's contact sync."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from core.celery_app import celery_app
from core.db import after_commit, db
from core.settings import current_settings
from models import CheckJob
from services import contacts, dispatch, existence, lids, sessions
from services.messages import now
from services.send_rules import MAX_BROKER_DELAY_SECONDS
from tasks.base import DbTask
from tasks.periodic import locked_task

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0


def _session():
    from worker.runtime import driving_session  # only a WhatsApp worker has one

    return driving_session()


def _next_step(job: CheckJob, countdown: float | None = None) -> None:
    batch = len(job.numbers) > 1
    after_commit(db, lambda: dispatch.publish_check(job.id, job.session, countdown, batch=batch))


@celery_app.task(name=dispatch.CHECK_STEP, base=DbTask)
def check_step(job_id: str) -> str:
    """Answer the job's cached numbers, then ask WhatsApp about at most one number (paced)."""
    from worker.errors import BrowserDied, BrowserTimeout, SessionNotConnected, WhatsAppError
    from worker.pacer import check_pacer

    session = _session()
    settings = session.settings
    job = db.get(CheckJob, uuid.UUID(job_id), with_for_update=True)
    if job is None or job.status != "RUNNING":
        return "skipped"
    number = existence.skip_cached(db, job, settings.whatsapp_check_ttl_hours)
    if number is None:
        if job.status == "RUNNING":
            _next_step(job)
        return "cached"
    pacer = check_pacer(session.client, settings)
    wait = pacer.delay()
    if wait > 0:
        _next_step(job, min(wait, MAX_BROKER_DELAY_SECONDS))  # a longer wait is re-checked, not an ETA
        return "paced"
    try:
        found = session.calls.query_exists(f"{number}@c.us")
    except (SessionNotConnected, BrowserTimeout, BrowserDied) as exc:
        if job.created_at < now() - timedelta(minutes=settings.send_max_age_minutes):
            existence.finish(job, "FAILED", f"the session could not answer: {exc}")
            return "failed"
        _next_step(job, RETRY_SECONDS)
        return "waiting"
    except WhatsAppError as exc:  # invalid_wid and the like: WhatsApp has no such user
        log.info("existence check of %s refused: %s", number, exc)
        found = None
    pacer.record_send()
    existence.record(db, job, number, found)
    if job.status == "RUNNING":
        _next_step(job)
    return "checked"


@celery_app.task(name=dispatch.SYNC_CONTACTS, base=DbTask)
def sync_contacts() -> int:
    """Upsert the phone's contacts (`WPP.contact.list`): people only, names and business flags."""
    synced = 0
    for contact in _session().calls.list_contacts():
        wid = str(contact.get("id") or "")
        if not wid.endswith("@c.us") or contact.get("isGroup"):
            continue
        digits = wid.split("@", 1)[0].split(":", 1)[0]
        if not digits.isdigit():
            continue
        contacts.upsert(db, digits, name=contact.get("name"), pushname=contact.get("pushname"),
                        is_business=contact.get("isBusiness"), is_user=contact.get("isUser"))
        synced += 1
    return synced


@locked_task("tasks.contacts.schedule_lid_resolution", lock_seconds=60)
def schedule_lid_resolution() -> list[str]:
    """Ask the worker of each session holding messages from unmapped LIDs to map them."""
    settings = current_settings()
    names = [row.name for row in sessions.list_sessions(db, settings, active=True) if lids.unresolved(db, row.name, 1)]
    for name in names:
        dispatch.publish_resolve_lids(name, expires=settings.health_check_seconds)
    return names


@celery_app.task(name=dispatch.RESOLVE_LIDS, base=DbTask)
def resolve_lids(session_name: str) -> int:
    """File the messages that came from a LID WhatsApp Web could not map yet under their phone
    number, now that it may (services/lids.py). -> how many messages were filed."""
    session = _session()
    if session.name != session_name:
        from worker.errors import NotDriving

        raise NotDriving(f"this worker drives {session.name}, not {session_name}")
    filed = 0
    for lid in lids.unresolved(db, session_name):
        phone = lids.phone_of(db, lid) or session.calls.phone_of_lid(lid)
        if phone:
            filed += lids.resolve_pending(db, session_name, lid, phone)
            db.commit()
    return filed
