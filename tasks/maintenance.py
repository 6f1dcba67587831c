"""Periodic jobs on the default queue (no browser): the outbox sweeper and clean-ups."""
from __future__ import annotations

from dataclasses import asdict

from core.db import db
from core.settings import current_settings
from services import health, idempotency, media, outbox, privacy, sessions
from tasks.periodic import locked_task


@locked_task("tasks.maintenance.sweep_outbox", lock_seconds=300)
def sweep_outbox() -> dict:
    idle = current_settings().outbox_republish_after_seconds
    return asdict(outbox.sweep(db, idle_seconds=idle, chain_idle_seconds=idle))


@locked_task("tasks.maintenance.purge_idempotency_keys", lock_seconds=600)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired(db)


@locked_task("tasks.maintenance.purge_qr_payloads", lock_seconds=60)
def purge_qr_payloads() -> list[str]:
    """-> the sessions whose stale QR payload was removed."""
    settings = current_settings()
    return [row.name for row in sessions.list_sessions(db, settings)
            if health.purge_old_qr(row.name, settings.qr_max_age_seconds)]


@locked_task("tasks.maintenance.purge_personal_data", lock_seconds=300)
def purge_personal_data() -> dict:
    """Retention (MESSAGE_RETENTION_DAYS, CONTACT_RETENTION_DAYS): short batches for at most a
    minute a run; what is left waits for the next run."""
    return asdict(privacy.purge_expired(db, current_settings()))


@locked_task("tasks.maintenance.purge_media", lock_seconds=600)
def purge_media() -> int:
    """-> files deleted: those older than MEDIA_RETENTION_DAYS, a batch per commit."""
    days, total = current_settings().media_retention_days, 0
    while deleted := media.purge(db, days):
        db.commit()
        total += deleted
    return total
