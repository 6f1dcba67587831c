"""Sending media: one file (uploaded, fetched from a URL, or base64) to one number or to many."""
from __future__ import annotations

from flask import current_app

from core.db import db
from services import bulk, media, optout, safe_fetch, sending
from web.api.blueprint import MULTIPART_OR_JSON, Blueprint
from web.api.media_schemas import (MediaQueuedSchema, SendMediaBulkSchema, SendMediaSchema, StoredSchema,
                                   UploadSchema)
from web.api.messages import valid_phone
from web.api.messages_schemas import BulkAcceptedSchema
from web.auth import Capability, current_principal, requires
from web.idempotent import idempotent
from web.prefer_wait import PREFER_WAIT_200, wait_after_commit
from web.schemas import body_limit, envelope, ok
from web.session_scope import current_session, session_scoped
from web.transaction import audit_target

blp = Blueprint("media", __name__, url_prefix="/api/whatsapp", description="Send images, documents, voice notes")


def _upload_limit(settings) -> int:
    """A base64 body is 4/3 of the file, plus the other fields."""
    return settings.media_max_bytes * 4 // 3 + 64 * 1024


def _json_body(schema: str) -> dict:
    return {"requestBody": {"content": {"application/json": {"schema": schema}}}}


def _store(args) -> media.Stored:
    """The request's file into the media store (in the request's transaction: a refused or failed
    request stores nothing), or the stored file it names."""
    if args.get("mediaId") is not None:
        return media.attachment(db, args["mediaId"], current_session())
    settings = current_app.config["SETTINGS"]
    filename = args.get("filename")
    if args.get("file") is not None:
        upload = args["file"]
        chunks, filename = media.from_stream(upload.stream), filename or upload.filename or None
    elif args.get("url"):
        fetched = safe_fetch.fetch(args["url"], max_bytes=settings.media_max_bytes,
                                   timeout_seconds=settings.media_fetch_timeout_seconds,
                                   allowed=settings.media_url_allowed_networks)
        chunks, filename = fetched.chunks, filename or fetched.filename
    else:
        chunks = media.from_base64(args["base64"])
    return media.store(db, session_name=current_session(), chunks=chunks, kind=args.get("type"),
                       filename=filename, max_bytes=settings.media_max_bytes)


@blp.route("/media", methods=["POST"])
@body_limit(_upload_limit, multipart=True)
@requires(Capability.SEND)
@session_scoped(blp)
@blp.arguments(UploadSchema, location=MULTIPART_OR_JSON)
@blp.doc(**_json_body("Upload"))
@idempotent
@blp.response(201, envelope(StoredSchema))
def upload(args):
    """Store a file without sending it, to attach later by its `mediaId` (/send-media, schedules).
    The same checks as /send-media; it is purged after MEDIA_RETENTION_DAYS unless an active
    schedule or a message waiting to be sent holds it."""
    stored = _store(args)
    audit_target(f"media:{stored.id}", action="media.upload", type=stored.kind, size=stored.size)
    return ok(stored, "file stored")


@blp.route("/send-media", methods=["POST"])
@body_limit(_upload_limit, multipart=True)
@requires(Capability.SEND)
@session_scoped(blp)
@blp.arguments(SendMediaSchema, location=MULTIPART_OR_JSON)
@blp.doc(**_json_body("SendMedia"))
@idempotent
@blp.response(202, envelope(MediaQueuedSchema))
@blp.alt_response(200, schema=envelope(MediaQueuedSchema), description=PREFER_WAIT_200)
def send_media(args):
    """Queue one image, video, audio, voice note (`ptt`), document or sticker, with an optional caption.

    The body is `multipart/form-data` (a `file` part plus the other fields) or JSON with `url`,
    `base64` or `mediaId` (a file stored before with POST /media). The type is read from the file's bytes: a file of no known type, or whose bytes are
    not what `type` or its name says, is 415; larger than WhatsApp's limit for its type or than
    MEDIA_MAX_BYTES, 413; empty, 422. Nothing is stored then. `Idempotency-Key`, `transactional`
    (a number that opted out) and `Prefer: wait=N` as for /send."""
    phone = valid_phone(args.get("phoneNumber") or args["recipient"])
    optout.refuse_unless_transactional(db, phone.formatted, args["transactional"])  # before the bytes are stored
    stored = _store(args)
    message = sending.send_one(db, session_name=current_session(), phone=phone, text=args.get("caption"),
                               user_id=current_principal().id, transactional=args["transactional"], media=stored)
    audit_target(f"message:{message.id}", action="message.send_media", phoneNumber=phone.formatted,
                 mediaId=str(stored.id), type=stored.kind, size=stored.size,
                 **({"transactional": True} if args["transactional"] else {}))
    wait_after_commit(message.id)
    return ok({"messageId": message.id, "status": message.status, "phoneNumber": phone.formatted,
               "mediaId": stored.id, "type": stored.kind, "mimetype": stored.mimetype, "size": stored.size,
               "filename": stored.filename}, "media message queued")


@blp.route("/send-media-bulk", methods=["POST"])
@body_limit(_upload_limit, multipart=True)
@requires(Capability.BULK)
@session_scoped(blp)
@blp.arguments(SendMediaBulkSchema, location=MULTIPART_OR_JSON)
@blp.doc(**_json_body("SendMediaBulk"))
@idempotent
@blp.response(202, envelope(BulkAcceptedSchema))
def send_media_bulk(args):
    """Queue one file (stored once) with its caption to up to 10,000 recipients, like /send-bulk.
    In multipart, repeat the `recipients` field once per number."""
    stored = _store(args)
    job, valid, invalid = bulk.create_job(db, session_name=current_session(), recipients=args["recipients"],
                                          body=args.get("caption"), country=current_app.config["SETTINGS"].default_country,
                                          user_id=current_principal().id, media=stored)
    audit_target(f"job:{job.id}", action="message.send_media_bulk", queued=len(valid), invalid=len(invalid),
                 mediaId=str(stored.id))
    return ok({"jobId": job.id, "queued": [p.formatted for p in valid], "sent": [], "failed": [],
               "invalid": invalid}, f"{len(valid)} media messages queued, {len(invalid)} invalid numbers")
