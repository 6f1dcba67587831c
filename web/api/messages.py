"""Sending, listing and reading messages (the original routes, now queued, paced and traceable)."""
from __future__ import annotations

import uuid

from flask import Response, current_app
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import Message, MessageEvent
from models.enums import Direction, ErrorType
from services import bulk, groups, guard_rails, media, messages, sending
from services.phones import check_number
from web.api.blueprint import Blueprint
from web.api.messages_schemas import (BulkAcceptedSchema, BulkSchema, MessageDetailSchema,
                                      MessageQuerySchema, MessageSchema, QueuedSchema, SendSchema)
from web.auth import Capability, current_principal, requires
from web.idempotent import idempotent
from web.pagination import contains_pattern, page
from web.prefer_wait import PREFER_WAIT_200, wait_after_commit
from web.schemas import PageArgs, envelope, ok, page_envelope
from web.session_scope import authorize_row_session, current_session, session_scoped
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("messages", __name__, url_prefix="/api/whatsapp", description="Send and read messages")


def _settings():
    return current_app.config["SETTINGS"]


def valid_phone(raw: str, field: str = "phoneNumber"):
    check = check_number(raw, _settings().default_country, describe=False)
    if not check.is_valid:
        raise GatewayError(422, f"{field} is not a valid phone number: {check.error}", ErrorType.INVALID_NUMBER,
                           details={field: [check.error]})
    return check


@blp.route("/send", methods=["POST"])
@requires(Capability.SEND)
@session_scoped(blp)
@blp.arguments(SendSchema)
@idempotent
@blp.response(202, envelope(QueuedSchema))
@blp.alt_response(200, schema=envelope(QueuedSchema), description=PREFER_WAIT_200)
def send(args):
    """Queue one text message to a phone number or, with `groupId`, to a group. Answers 202 at
    once; follow it with GET /messages/{id}.

    Send an `Idempotency-Key` header to make retries safe: the same key and body return the first
    answer (no second message), a different body with the same key is 422, and 409 while the first
    request is still running. Keys are kept 24 hours, per caller.

    Send `Prefer: wait=N` (RFC 7240; N seconds, at most PREFER_WAIT_MAX_SECONDS) to have the answer
    wait until the message is sent (200 with `waMessageId`) or failed (200 with `errorType`); still
    on its way after N seconds, it is the 202 QUEUED answer. `Preference-Applied: wait=N` says the
    wait was applied (a busy server may answer at once without it). A replayed Idempotency-Key
    answer is the first answer as it was stored (202), without waiting."""
    target, group_id = recipient_of(args)
    message = sending.send_one(db, session_name=current_session(), phone=target,
                               text=messages.sanitise_text(args["message"]), user_id=current_principal().id,
                               transactional=args["transactional"])
    audit_target(f"message:{message.id}", action="message.send",
                 **({"groupId": group_id} if group_id else {"phoneNumber": target.formatted}),
                 **({"transactional": True} if args["transactional"] else {}))
    wait_after_commit(message.id)
    return ok({"messageId": message.id, "status": message.status, "phoneNumber": target.formatted,
               "groupId": group_id}, say("message.queued"))


def recipient_of(args: dict) -> tuple:
    """(recipient, group chat id or None) of a OneRecipient body: a group is one more kind of
    recipient, through the same pipeline."""
    if args.get("groupId"):
        target = groups.GroupRecipient(groups.group_chat_id(args["groupId"]))
        return target, target.chat_id
    return valid_phone(args.get("phoneNumber") or args["recipient"]), None


@blp.route("/send-bulk", methods=["POST"])
@requires(Capability.BULK)
@session_scoped(blp)
@blp.arguments(BulkSchema)
@idempotent
@blp.response(202, envelope(BulkAcceptedSchema))
def send_bulk(args):
    """Queue one text to up to 10,000 recipients (normalised, de-duplicated); invalid ones are listed."""
    text = messages.sanitise_text(args["message"])
    job, valid, invalid = bulk.create_job(db, session_name=current_session(), recipients=args["recipients"],
                                          body=text, country=_settings().default_country,
                                          user_id=current_principal().id)
    estimate = guard_rails.accept(db, job, _settings(), spread=args["spread"])
    audit_target(f"job:{job.id}", action="message.send_bulk", queued=len(valid), invalid=len(invalid),
                 **({"spread": True} if args["spread"] else {}))
    return ok({"jobId": job.id, "queued": [p.formatted for p in valid], "sent": [], "failed": [],
               "invalid": invalid, "estimate": estimate,
               "warnings": bulk_warnings(job.session, [p.formatted for p in valid])},
              say("bulk.queued", queued=len(valid), invalid=len(invalid)))


def bulk_warnings(session_name: str, numbers: list[str]) -> list[dict]:
    """The warnings of a job's answer (services/guard_rails.py), worded in the request's language."""
    found = guard_rails.new_numbers(db, session_name, numbers, _settings())
    if found is None:
        return []
    text = say("warning.new_numbers", new=found.new, recipients=found.recipients, share=found.share_percent,
               threshold=found.threshold_percent)
    return [{**found.as_dict(), "message": text}]


def _filtered(args) -> select:
    query = select(Message).where(Message.session == current_session())
    if args.get("phoneNumber"):
        query = query.where(Message.phone_number == valid_phone(args["phoneNumber"]).formatted)
    if args.get("groupId"):
        query = query.where(Message.chat_id == groups.group_chat_id(args["groupId"]))
    for key, column in (("direction", Message.direction), ("status", Message.status),
                        ("jobId", Message.bulk_job_id)):
        if args.get(key):
            query = query.where(column == args[key])
    if args.get("since"):
        query = query.where(Message.created_at >= args["since"])
    if args.get("until"):
        query = query.where(Message.created_at < args["until"])
    if args.get("q"):
        query = query.where(Message.body.ilike(contains_pattern(args["q"])))
    return query


@blp.route("/messages")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(MessageQuerySchema, location="query")
@blp.response(200, page_envelope(MessageSchema))
def list_messages(args):
    """The session's messages newest first, with filters and cursor pagination (pass `nextCursor`
    as `cursor`)."""
    rows, next_cursor = page(_filtered(args), Message.created_at, Message.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


@blp.route("/messages/<phone:phone_number>")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_envelope(MessageSchema))
def conversation(args, phone_number: str):
    """The session's conversation with one number, both directions, newest first."""
    query = select(Message).where(Message.session == current_session(),
                                  Message.phone_number == valid_phone(phone_number).formatted)
    rows, next_cursor = page(query, Message.created_at, Message.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


@blp.route("/messages/<uuid:message_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(MessageDetailSchema))
def get_message(message_id: uuid.UUID):
    """One message with its status history, to reconcile after a missed event."""
    message = get_or_404(db, Message, message_id, "message")
    authorize_row_session(message.session)
    events = list(db.scalars(select(MessageEvent).where(MessageEvent.message_id == message.id)))
    message.history = messages.history(message, events)
    return ok(message)


@blp.route("/messages/<uuid:message_id>/read", methods=["POST"])
@requires(Capability.VIEW)
@blp.response(200, envelope(MessageSchema))
def mark_read(message_id: uuid.UUID):
    """Mark an incoming message READ and send the read receipt through the session."""
    message = get_or_404(db, Message, message_id, "message")
    authorize_row_session(message.session)
    if message.direction != Direction.INCOMING.value:
        raise GatewayError(409, "only incoming messages can be marked as read")
    audit_target(f"message:{message.id}", action="message.read")
    messages.mark_read(db, [message])
    return ok(message, say("message.read"))


@blp.route("/messages/<uuid:message_id>/media")
@requires(Capability.VIEW)
@blp.response(200, description="the file, with its content type and name (Content-Disposition)",
              content_type="application/octet-stream")
def media_file(message_id: uuid.UUID):
    """The attachment of a message: the file sent, or the one received (downloaded from WhatsApp
    by the worker once, when it arrived). 404 while there is none: not downloaded yet, or purged
    after MEDIA_RETENTION_DAYS."""
    message = get_or_404(db, Message, message_id, "message")
    authorize_row_session(message.session)
    stored = media.get_complete(db, message.media_id)
    if stored is None:
        raise GatewayError(404, "this message has no media (none, not downloaded yet, or purged)")
    disposition = "inline" if stored.mimetype.split("/", 1)[0] in ("image", "video", "audio") else "attachment"
    response = Response(media.read_chunks(db.get_bind(), stored.id), mimetype=stored.mimetype,
                        direct_passthrough=True)
    response.headers.set("Content-Disposition", disposition, filename=stored.filename or "media")
    response.content_length = stored.size
    return response
