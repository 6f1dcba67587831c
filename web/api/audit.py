"""The audit log, readable by SUPER_ADMIN."""
from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from core.db import db
from models import AuditLog
from web.api.blueprint import Blueprint
from web.auth import Capability, requires
from web.pagination import page
from web.schemas import PageArgs, ok, page_envelope

blp = Blueprint("audit", __name__, url_prefix="/api/audit", description="Audit log of every state change")


class AuditQuerySchema(PageArgs):
    actor = fields.String(metadata={"description": "principal id, e.g. user:<uuid>"})
    action = fields.String()
    outcome = fields.String(validate=validate.OneOf(["success", "denied", "invalid", "error"]))
    since = fields.AwareDateTime(data_key="from")
    until = fields.AwareDateTime(data_key="to")


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    actorName = fields.String(attribute="actor_name", allow_none=True)
    role = fields.String(allow_none=True)
    action = fields.String()
    target = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    outcome = fields.String()
    statusCode = fields.Integer(attribute="status_code", allow_none=True)
    details = fields.Dict(allow_none=True)



@blp.route("")
@requires(Capability.ADMINISTER)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, page_envelope(AuditEntrySchema))
def list_audit(args):
    """Audit rows newest first, filtered by actor, action, outcome and time range."""
    rows, next_cursor = audit_page(args)
    return {**ok(rows), "nextCursor": next_cursor}


def audit_page(args: dict) -> tuple[list[AuditLog], str | None]:
    """A page of audit rows (AuditQuerySchema's arguments) and the next page's cursor; also the
    admin panel's audit page."""
    query = select(AuditLog)
    for column, key in ((AuditLog.actor, "actor"), (AuditLog.action, "action"), (AuditLog.outcome, "outcome")):
        if args.get(key):
            query = query.where(column == args[key])
    if args.get("since"):
        query = query.where(AuditLog.at >= args["since"])
    if args.get("until"):
        query = query.where(AuditLog.at < args["until"])
    return page(query, AuditLog.at, AuditLog.id, args["limit"], args["cursor"], db)
