"""Encrypted backups of a session's browser profile: list them, ask for one, restore one.

The API never reads a profile: the worker that drives the session makes and restores backups
(tasks/backups.py), so a backup or a restore needs that worker alive (503 otherwise). The session
is resolved as `?session=` is (web.session_scope): the caller must be allowed it, and it must exist.
"""
from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields

from core.db import db
from core.errors import GatewayError
from core.settings import is_session_name
from models.enums import ErrorType
from services import backups, connection, dispatch
from web.api.blueprint import Blueprint
from web.auth import Capability, requires
from web.schemas import envelope, ok
from web.session_scope import resolve
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("backups", __name__, url_prefix="/api/sessions",
                description="Encrypted backups of a session's browser profile (its WhatsApp login)")

LINKED = ("CONNECTED", "DISCONNECTED")  # = worker.backups.LINKED (the API does not import the worker)


class BackupSchema(Schema):
    id = fields.UUID()
    session = fields.String(attribute="session_name")
    createdAt = fields.DateTime(attribute="created_at")
    size = fields.Integer(metadata={"description": "bytes stored (compressed and encrypted)"})
    sha256 = fields.String(metadata={"description": "hex digest of the stored bytes"})


class RestoreSchema(Schema):
    backupId = fields.UUID(load_default=None, allow_none=True,
                           metadata={"description": "the backup to restore; the newest when left out"})


class BackupQueuedSchema(Schema):
    session = fields.String()
    taskId = fields.String()
    backupId = fields.UUID(allow_none=True,
                           metadata={"description": "the backup being restored (restore only)"})


def _known_session(name: str) -> str:
    """`name` once the caller may use it and it is a live session (web.session_scope.resolve:
    403, 404 or 409 otherwise)."""
    if not is_session_name(name):
        raise GatewayError(404, f"no session named {name!r}")
    return resolve(name)


def _ready_for(session: str) -> dict:
    """Backups on, and a live worker to make or restore them; -> the session's published state."""
    if current_app.config["SETTINGS"].backup_key is None:
        raise GatewayError(409, "session backups are off: set SESSION_BACKUP_KEY (base64 of 32 random bytes)",
                           ErrorType.CONFLICT)
    return connection.worker_state(session)


def _publish(publish, *args) -> str:
    try:
        return publish(*args)
    except dispatch.PUBLISH_ERRORS as exc:
        raise GatewayError(503, f"the task queue is unavailable: {type(exc).__name__}",
                           ErrorType.CONNECTION_ERROR) from None


@blp.route("/<name>/backups")
@requires(Capability.CONNECTION)
@blp.response(200, envelope(BackupSchema, many=True))
def list_backups(name: str):
    """The session's backups, newest first (at most SESSION_BACKUP_KEEP)."""
    return ok(backups.listing(db, _known_session(name)))


@blp.route("/<name>/backup", methods=["POST"])
@requires(Capability.CONNECTION)
@blp.response(202, envelope(BackupQueuedSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def backup(name: str):
    """Ask the session's worker for a backup now (409 when the session is not linked); it shows
    up in the list, and as a `backup` event, once stored."""
    session = _known_session(name)
    state = _ready_for(session)["state"]
    if state not in LINKED:
        raise GatewayError(409, f"session {session} is {state}, not linked: there is no login to back up",
                           ErrorType.CONFLICT, details={"state": state})
    task_id = _publish(dispatch.publish_backup, session)
    audit_target(f"session:{session}", action="session.backup", taskId=task_id)
    return ok({"session": session, "taskId": task_id, "backupId": None}, say("backup.requested"))


@blp.route("/<name>/restore", methods=["POST"])
@requires(Capability.CONNECTION)
@blp.arguments(RestoreSchema, required=False)
@blp.response(202, envelope(BackupQueuedSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def restore(args, name: str):
    """Replace the session's profile with a backup: its worker checks the backup (key, integrity,
    archive), stops the browser, swaps the profile and starts the browser again. A refused backup
    changes nothing and is reported as a `backup` event with `ok: false`."""
    session = _known_session(name)
    found = backups.find(db, session, args.get("backupId"))
    if found is None:
        raise GatewayError(404, f"session {session} has no backup {args.get('backupId') or ''}".rstrip())
    _ready_for(session)
    task_id = _publish(dispatch.publish_restore, session, found.id)
    audit_target(f"session:{session}", action="session.restore", backupId=str(found.id), taskId=task_id)
    return ok({"session": session, "taskId": task_id, "backupId": found.id}, say("restore.requested"))
