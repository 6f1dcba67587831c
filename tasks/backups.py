"""Session backups: beat's periodic request (default queue) and the two tasks that run in the
worker driving the session (queue `wa.<session>`), the only process that owns its profile."""
from __future__ import annotations

import logging
import uuid

from core.celery_app import celery_app
from core.db import db
from core.settings import current_settings
from services import dispatch, sessions
from services.backups import BackupError
from tasks.base import DbTask
from tasks.periodic import locked_task

log = logging.getLogger(__name__)


def _session(session_name: str):
    """The session `session_name`, which this worker must drive now (else the task goes back to
    the session's queue, see tasks/base.py)."""
    from worker.errors import NotDriving
    from worker.runtime import driving_session  # only a WhatsApp worker has one

    session = driving_session()
    if session.name != session_name:
        raise NotDriving(f"this worker drives {session.name}, not {session_name}")
    return session


@locked_task("tasks.backups.schedule_backups", lock_seconds=60)
def schedule_backups() -> str:
    """Ask each active session's worker for a backup; a request not started within one period is
    dropped (a session no worker drives has nothing new to back up)."""
    settings = current_settings()
    if settings.backup_key is None:
        return "skipped: SESSION_BACKUP_KEY is not set"
    names = [row.name for row in sessions.list_sessions(db, settings, active=True)]
    for name in names:
        dispatch.publish_backup(name, expires=settings.session_backup_seconds)
    return f"requested for {', '.join(names)}"


@celery_app.task(name=dispatch.BACKUP_SESSION, base=DbTask)
def backup_session(session_name: str) -> str:
    return _session(session_name).backups.backup()


@celery_app.task(name=dispatch.RESTORE_SESSION, base=DbTask)
def restore_session(session_name: str, backup_id: str) -> str:
    session = _session(session_name)
    try:
        return session.backups.restore(uuid.UUID(backup_id))
    except BackupError as exc:  # logged and published as an event by the worker; not retried
        return str(exc)
