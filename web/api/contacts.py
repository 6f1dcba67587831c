"""Contacts: listed and edited here; filled by incoming messages, syncs and existence checks."""
from __future__ import annotations

import csv
import io
import uuid

from celery.result import AsyncResult
from flask import Response, current_app, stream_with_context
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import or_, select

from core.celery_app import celery_for
from core.db import after_commit, db, get_or_404
from models import Contact
from services import dispatch, optout
from web.api.blueprint import Blueprint
from web.auth import Capability, current_principal, requires
from web.pagination import contains_pattern, page
from web.schemas import PageArgs, envelope, ok, page_envelope
from web.session_scope import current_session, session_scoped
from web.texts import say
from web.transaction import audit_read, audit_target

blp = Blueprint("contacts", __name__, url_prefix="/api/whatsapp/contacts", description="Contacts")


class ContactSchema(Schema):
    id = fields.UUID()
    phoneNumber = fields.String(attribute="phone_number", metadata={"description": "personal data"})
    name = fields.String(allow_none=True, metadata={"description": "personal data"})
    pushname = fields.String(allow_none=True, metadata={"description": "personal data (the name they set)"})
    isUser = fields.Boolean(attribute="is_user")
    isBusiness = fields.Boolean(attribute="is_business")
    isFavorite = fields.Boolean(attribute="is_favorite")
    hasWhatsApp = fields.Boolean(attribute="has_whatsapp", allow_none=True)
    whatsAppCheckedAt = fields.DateTime(attribute="whatsapp_checked_at", allow_none=True)
    lastMessageAt = fields.DateTime(attribute="last_message_at", allow_none=True)
    lid = fields.String(allow_none=True, metadata={"description": "WhatsApp's other id for this person (`<digits>@lid`)"})
    optedOutAt = fields.DateTime(attribute="opted_out_at", allow_none=True, metadata={
        "description": "when they opted out (skipped by bulks and campaigns; single sends 409 unless transactional)"})
    optOutReason = fields.String(attribute="opt_out_reason", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")



class ContactQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "name, pushname or number"})
    favorite = fields.Boolean(metadata={"description": "only favourites (true) or only the others (false)"})
    optedOut = fields.Boolean(metadata={"description": "only those who opted out (true) or only the others (false)"})


class ContactPatchSchema(Schema):
    name = fields.String(allow_none=True, validate=validate.Length(max=255))
    isFavorite = fields.Boolean()
    optedOut = fields.Boolean(metadata={"description": "opt the contact out (true) or back in (false)"})

    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ValidationError("give name, isFavorite and/or optedOut")


class SyncSchema(Schema):
    taskId = fields.String()
    status = fields.String()
    synced = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


@blp.route("")
@requires(Capability.VIEW)
@blp.arguments(ContactQuerySchema, location="query")
@blp.response(200, page_envelope(ContactSchema))
def list_contacts(args):
    """Contacts newest first; search by name, pushname or number, filter favourites."""
    rows, next_cursor = page(contact_query(args), Contact.created_at, Contact.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


@blp.route("/opted-out.csv")
@requires(Capability.MANAGE)
@blp.response(200, description="CSV (UTF-8, a header line): phoneNumber, name, pushname, optedOutAt (UTC, "
                                "ISO 8601), reason; oldest opt-out first", content_type="text/csv")
def export_opted_out():
    """Everyone who opted out (personal data: the read is audited), for the CRM's own suppression
    list; streamed, so a long list holds no memory."""
    audit_read("contacts:opted-out", action="contact.export_opted_out")
    query = (select(Contact.phone_number, Contact.name, Contact.pushname, Contact.opted_out_at, Contact.opt_out_reason)
             .where(Contact.opted_out_at.is_not(None)).order_by(Contact.opted_out_at, Contact.id)
             .execution_options(yield_per=1000))

    def lines():
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(["phoneNumber", "name", "pushname", "optedOutAt", "reason"])
        for number, name, pushname, at, reason in db.execute(query):
            out.writerow([number, name or "", pushname or "", at.isoformat(), reason or ""])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="opted-out.csv"'})


def contact_query(args: dict):
    """The contacts matching ContactQuerySchema's filters (the API's list and the panel's)."""
    query = select(Contact)
    if args.get("q"):
        term = args["q"].strip()
        pattern = contains_pattern(term)
        digits = "".join(ch for ch in term if ch.isdigit())
        conditions = [Contact.name.ilike(pattern), Contact.pushname.ilike(pattern)]
        if digits:
            conditions.append(Contact.phone_number.like(f"%{digits}%"))
        query = query.where(or_(*conditions))
    if "favorite" in args:
        query = query.where(Contact.is_favorite.is_(args["favorite"]))
    if "optedOut" in args:
        query = query.where(Contact.opted_out_at.is_not(None) if args["optedOut"] else Contact.opted_out_at.is_(None))
    return query


@blp.route("/<uuid:contact_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(ContactSchema))
def get_contact(contact_id: uuid.UUID):
    return ok(get_or_404(db, Contact, contact_id, "contact"))


@blp.route("/<uuid:contact_id>", methods=["PATCH"])
@requires(Capability.MANAGE)
@blp.arguments(ContactPatchSchema)
@blp.response(200, envelope(ContactSchema))
def patch_contact(args, contact_id: uuid.UUID):
    """Rename a contact (null clears the name), mark it favourite, opt it out or back in."""
    contact = get_or_404(db, Contact, contact_id, "contact")
    if "name" in args:
        contact.name = (args["name"] or "").strip() or None
    if "isFavorite" in args:
        contact.is_favorite = args["isFavorite"]
    if "optedOut" in args:
        optout.set_opted_out(db, contact.phone_number, args["optedOut"], f"by {current_principal().name}")
    audit_target(f"contact:{contact.id}", action="contact.update", fields=sorted(args))
    db.flush()
    return ok(contact, say("contact.updated"))


@blp.route("/sync", methods=["POST"])
@requires(Capability.MANAGE)
@session_scoped(blp)
@blp.response(202, envelope(SyncSchema))
def sync():
    """Pull the phone's contacts through the session (WPP.contact.list); poll GET /contacts/sync/{taskId}."""
    task_id = queue_sync(current_session())
    return ok({"taskId": task_id, "status": "PENDING"}, say("contacts.sync_queued"))


def queue_sync(session: str) -> str:
    """The sync task on the session's queue once the request commits (audited); its task id."""
    task_id = str(uuid.uuid4())
    after_commit(db, lambda: dispatch.publish_sync_contacts(session, task_id))
    audit_target(f"session:{session}", action="contact.sync", taskId=task_id)
    return task_id


@blp.route("/sync/<uuid:task_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(SyncSchema))
def sync_status(task_id: uuid.UUID):
    """A contact sync's state: PENDING, STARTED, SUCCESS (with the number synced) or FAILURE."""
    return ok(sync_state(task_id))


def sync_state(task_id: uuid.UUID) -> dict:
    result = AsyncResult(str(task_id), app=celery_for(current_app.config["SETTINGS"]))
    state = result.state
    synced = result.result if state == "SUCCESS" else None
    error = str(result.result) if state == "FAILURE" else None
    return {"taskId": str(task_id), "status": state, "synced": synced, "error": error}
