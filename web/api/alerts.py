"""Alerts the gateway raised about itself (services/alerts.py, evaluated by beat), for ADMINs."""
from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from core.db import db
from models import Alert
from web.api.blueprint import Blueprint
from web.auth import Capability, current_principal, requires
from web.pagination import page
from web.schemas import PageArgs, ok, page_envelope

blp = Blueprint("alerts", __name__, url_prefix="/api/alerts", description="Alerts raised by the health check")


class AlertQuerySchema(PageArgs):
    state = fields.String(load_default="open", validate=validate.OneOf(["open", "resolved", "all"]),
                          metadata={"description": "open (default): still going on; resolved; all"})
    kind = fields.String(validate=validate.Length(max=32),
                         metadata={"description": "e.g. session_down, error_rate, queue_stale, disk_low, browser_restarts"})
    subject = fields.String(validate=validate.Length(max=64),
                            metadata={"description": "a session's name, or tokens / media for disk space"})


class AlertSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    subject = fields.String()
    message = fields.String()
    details = fields.Dict(allow_none=True)
    raisedAt = fields.DateTime(attribute="raised_at")
    lastSeenAt = fields.DateTime(attribute="last_seen_at", metadata={"description": "the last check that found it"})
    resolvedAt = fields.DateTime(attribute="resolved_at", allow_none=True)


@blp.route("")
@requires(Capability.MANAGE)
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, page_envelope(AlertSchema))
def list_alerts(args):
    """Alerts newest first; one row per problem while it lasts (checked every HEALTH_CHECK_SECONDS).
    A caller limited to some sessions sees only theirs."""
    query = select(Alert)
    if args["state"] == "open":
        query = query.where(Alert.resolved_at.is_(None))
    elif args["state"] == "resolved":
        query = query.where(Alert.resolved_at.is_not(None))
    for column, key in ((Alert.kind, "kind"), (Alert.subject, "subject")):
        if args.get(key):
            query = query.where(column == args[key])
    allowed = current_principal().sessions
    if allowed is not None:
        query = query.where(Alert.subject.in_(allowed))
    rows, next_cursor = page(query, Alert.raised_at, Alert.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}
