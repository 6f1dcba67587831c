"""WhatsApp sessions as a resource: one row per account, with its own queues and pacing caps.

A caller limited to some sessions (users' and tokens' `allowedSessions`) sees and manages only
those, and may not create new ones. Every other route picks its session with `?session=`
(web/session_scope.py).
"""
from __future__ import annotations

from flask import current_app, g

from core.db import db
from core.errors import GatewayError
from models import WaSession
from models.enums import ErrorType
from services import dispatch, runtime_settings, sessions
from services.session_state import read_state
from web.api.blueprint import Blueprint
from web.api.sessions_schemas import (DeleteQuerySchema, SessionCreateSchema, SessionDeletedSchema,
                                      SessionPatchSchema, SessionQuerySchema, SessionSchema)
from web.auth import Capability, authorize_session, current_principal, requires
from web.schemas import envelope, ok
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("sessions", __name__, url_prefix="/api/sessions", description="WhatsApp sessions (accounts)")


def _settings():
    return current_app.config["SETTINGS"]


def _tuned():
    """The settings with /api/settings' overrides, read once per request (a list shapes many rows)."""
    if "tuned_settings" not in g:
        g.tuned_settings = runtime_settings.effective(db, _settings())
    return g.tuned_settings


def _shaped(row: WaSession) -> WaSession:
    """The row with what the response adds to its columns."""
    row.effective_pacing = sessions.caps_of(row, _tuned())
    row.is_default = row.name == _settings().session_name
    row.queues = [dispatch.interactive_queue(row.name), dispatch.bulk_queue(row.name)]
    return row


def _own(name: str) -> WaSession:
    """The live session `name`, once the caller is allowed it (403 before 404: no probing)."""
    authorize_session(current_principal(), name)
    return sessions.get_or_404(db, name, _settings())


@blp.route("")
@requires(Capability.SESSIONS)
@blp.arguments(SessionQuerySchema, location="query")
@blp.response(200, envelope(SessionSchema, many=True))
def list_sessions(args):
    """Sessions by name (deleted ones are not listed); the default one is always there."""
    rows = sessions.list_sessions(db, _settings(), args.get("active"))
    allowed = current_principal().sessions
    return ok([_shaped(row) for row in rows if allowed is None or row.name in allowed])


@blp.route("", methods=["POST"])
@requires(Capability.SESSIONS)
@blp.arguments(SessionCreateSchema)
@blp.response(201, envelope(SessionSchema))
def create_session(args):
    """Create a session; a worker serves it on the queues `wa.<name>` and `wa.<name>.bulk`.
    Pacing caps left out (or null) follow the SEND_* settings."""
    principal = current_principal()
    if principal.sessions is not None:
        raise GatewayError(403, "a caller limited to some sessions may not create sessions",
                           ErrorType.PERMISSION_DENIED)
    row = sessions.create(db, _settings(), by=principal.id, **args)
    audit_target(f"session:{row.name}", action="sessions.create", fields=sorted(args))
    return ok(_shaped(row), say("session.created"))


@blp.route("/<session:name>")
@requires(Capability.SESSIONS)
@blp.response(200, envelope(SessionSchema))
def get_session(name: str):
    return ok(_shaped(_own(name)))


@blp.route("/<session:name>", methods=["PATCH"])
@requires(Capability.SESSIONS)
@blp.arguments(SessionPatchSchema)
@blp.response(200, envelope(SessionSchema))
def update_session(args, name: str):
    """Change the description, switch the session on or off, or set pacing caps (null: back to the
    default). The worker applies new caps within seconds."""
    row = _own(name)
    audit_target(f"session:{row.name}", action="sessions.update", fields=sorted(args))
    return ok(_shaped(sessions.update(db, row, by=current_principal().id, **args)), say("session.updated"))


@blp.route("/<session:name>", methods=["DELETE"])
@requires(Capability.SESSIONS)
@blp.arguments(DeleteQuerySchema, location="query")
@blp.response(200, envelope(SessionDeletedSchema))
def delete_session(args, name: str):
    """Delete a session: `?confirm=<name>` is required. It is switched off at once and its logout is
    queued: the worker unlinks the phone and wipes the browser profile. The default session cannot
    be deleted (409). Creating the name again starts a new, unlinked session."""
    row = _own(name)
    if args["confirm"] != row.name:
        raise GatewayError(422, f"pass ?confirm={row.name} to delete this session (it unlinks the phone)",
                           details={"query": {"confirm": [f"must be {row.name!r}"]}})
    sessions.delete(db, row, _settings(), by=current_principal().id)
    audit_target(f"session:{row.name}", action="sessions.delete")
    return ok({"name": row.name, "deletedAt": row.deleted_at, "logout": "queued",
               "workerAlive": read_state(row.name)["alive"]}, say("session.deleted"))
