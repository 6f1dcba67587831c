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
    """This worker's session if it drives `session_name`, else None (a stand-by, another session)."""
    from worker.runtime import get_session  # only a session worker has one

    session = get_session()
    return session if session.name == session_name and session.is_owner() else None


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
    session = _session(session_name)
    if session is None:
        return f"skipped: this worker does not drive session {session_name}"
    return session.backups.backup()


@celery_app.task(name=dispatch.RESTORE_SESSION, base=DbTask)
def restore_session(session_name: str, backup_id: str) -> str:
    session = _session(session_name)
    if session is None:
        return f"skipped: this worker does not drive session {session_name}"
    try:
        return session.backups.restore(uuid.UUID(backup_id))
    except BackupError as exc:  # logged and published as an event by the worker; not retried
        return str(exc)
