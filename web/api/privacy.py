"""Personal data (GDPR): erase or export everything the gateway holds about one phone number.

SUPER_ADMIN only. Both are audited with a keyed hash of the number, never the number itself
(services/privacy.py says what is erased and what the export holds)."""
from __future__ import annotations

from flask import Response, current_app, stream_with_context
from marshmallow import Schema, fields, validate

from core.db import db
from services import privacy
from web.api.blueprint import Blueprint
from web.api.messages import valid_phone
from web.auth import Capability, requires
from web.schemas import envelope, ok
from web.texts import say
from web.transaction import audit_read, audit_target

blp = Blueprint("privacy", __name__, url_prefix="/api/privacy",
                description="Personal data: erasure and export of one person's data (GDPR)")


class PersonNumberSchema(Schema):
    phoneNumber = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                metadata={"description": "the person's number (personal data)"})


class ErasureSchema(Schema):
    phoneNumber = fields.String(metadata={"description": "the number erased, normalised"})
    numberHash = fields.String(metadata={"description": "what the audit log keeps instead of the number"})
    erased = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "rows (or files) removed or scrubbed, per kind"})


@blp.route("/erasure", methods=["POST"])
@requires(Capability.ADMINISTER)
@blp.arguments(PersonNumberSchema)
@blp.response(200, envelope(ErasureSchema))
def erase(args):
    """Erase a person: queued messages cancelled first, then every message (both directions), its
    history and media, the contact, and every mention of the number in schedules, job reports,
    idempotency answers, error details and the audit log (replaced by the hash). Idempotent."""
    phone = valid_phone(args["phoneNumber"])
    settings = current_app.config["SETTINGS"]
    report = privacy.erase(db, phone.formatted, settings)
    hashed = privacy.number_hash(phone.formatted, settings)
    audit_target(f"person:{hashed}", action="privacy.erasure", erased=report)
    return ok({"phoneNumber": phone.formatted, "numberHash": hashed, "erased": report}, say("privacy.erased"))


@blp.route("/export")
@requires(Capability.ADMINISTER)
@blp.arguments(PersonNumberSchema, location="query")
@blp.response(200, description="a zip: contact.json, messages.json (with each message's history), media/",
              content_type="application/zip")
def export(args):
    """Everything held about a person, as a zip streamed while it is written."""
    phone = valid_phone(args["phoneNumber"])
    hashed = privacy.number_hash(phone.formatted, current_app.config["SETTINGS"])
    audit_read(f"person:{hashed}", action="privacy.export")
    return Response(stream_with_context(privacy.export_zip(db, phone.formatted)), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="export-{hashed[:12]}.zip"'})
