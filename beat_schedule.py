"""Every periodic job of the gateway, in one table (`celery -A worker beat` reads it).

Each job runs on the default queue (`celery -A worker worker -Q default`: no browser), never
overlaps itself (`tasks.periodic.locked_task`) and expires no later than its period: a run beat
published while no worker was listening is dropped rather than piled up behind the next one.
Daily times are local times in TIMEZONE (the Celery app's timezone).
"""
from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab


from core.settings import Settings

DAY = 24 * 3600
DEFAULT_QUEUE = "default"  # = core.celery_app.DEFAULT_QUEUE (that module imports this one)


def build_schedule(settings: Settings) -> dict[str, dict]:
    hour, minute = settings.error_reset_clock
    table = [
        # name                    task                                        every (s) or crontab          expires (s)
        ("health-check",          "tasks.health.check_session",               settings.health_check_seconds, None),
        ("reset-error-counts",    "tasks.health.reset_error_counts",          crontab(hour=hour, minute=minute), DAY),
        ("dispatch-scheduled",    "tasks.scheduling.dispatch_due",            settings.schedule_dispatch_seconds, None),
        ("sweep-outbox",          "tasks.maintenance.sweep_outbox",           settings.sweeper_interval_seconds, None),
        ("purge-idempotency-keys", "tasks.maintenance.purge_idempotency_keys", settings.cleanup_interval_seconds, None),
        ("purge-qr-payloads",     "tasks.maintenance.purge_qr_payloads",      settings.cleanup_interval_seconds, None),
        ("purge-media",           "tasks.maintenance.purge_media",            settings.cleanup_interval_seconds, None),
        ("purge-personal-data",   "tasks.maintenance.purge_personal_data",    settings.cleanup_interval_seconds, None),
        ("backup-sessions",       "tasks.backups.schedule_backups",           settings.session_backup_seconds, None),
        # as often as the health check: a sender's LID is usually mappable within a minute or two
        ("resolve-lids",          "tasks.contacts.schedule_lid_resolution",   settings.health_check_seconds, None),
        ("sweep-webhooks",        "tasks.webhooks.sweep_deliveries",          settings.webhook_sweep_seconds, None),
        ("purge-events",          "tasks.webhooks.purge_events",              settings.cleanup_interval_seconds, None),
    ]
    return {
        name: {"task": task,
               "schedule": timedelta(seconds=every) if isinstance(every, int) else every,
               "options": {"queue": DEFAULT_QUEUE, "expires": expires or every}}
        for name, task, every, expires in table
    }
