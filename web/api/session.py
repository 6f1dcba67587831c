"""The WhatsApp connection: status, QR code, pairing code and the admin's connection commands."""
from __future__ import annotations

import base64
import io

import qrcode
from flask import request, send_file
from marshmallow import Schema, fields, validate

from core.errors import GatewayError
from models.enums import ErrorType
from services import connection
from services.session_state import read_state
from web.api.blueprint import Blueprint
from web.api.messages import valid_phone
from web.auth import Capability, requires
from web.schemas import envelope, ok
from web.session_scope import current_session, session_scoped
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("session", __name__, url_prefix="/api/whatsapp", description="The WhatsApp Web session")


class StatusSchema(Schema):
    session = fields.String()
    connected = fields.Boolean(metadata={"description": "true only when state is CONNECTED (what the original "
                                                        "panel reads to decide whether to show the QR)"})
    state = fields.String(metadata={"description": "STOPPED, STARTING, QR_REQUIRED, PAIRING_CODE, CONNECTED, "
                                                   "DISCONNECTED, LOGGED_OUT or FAILED"})
    since = fields.String(allow_none=True)
    phoneNumber = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    workerAlive = fields.Boolean()
    worker = fields.String(allow_none=True)
    heartbeatAge = fields.Float(allow_none=True, metadata={"description": "seconds since the worker's heartbeat"})
    qrWaiting = fields.Boolean()
    queueDepth = fields.Dict(keys=fields.String(), values=fields.Integer())
    browserMb = fields.Float(allow_none=True, metadata={
        "description": "memory of the session's Chromium, MB (null without a live worker); BROWSER_MEMORY_LIMIT_MB restarts it once idle"})
    error = fields.String(allow_none=True)


class CommandSchema(Schema):
    command = fields.String()
    commandId = fields.String()
    state = fields.String(metadata={"description": "the state the session is moving to"})
    previousState = fields.String(attribute="from")


class QrSchema(Schema):
    qr = fields.String(metadata={"description": "the raw QR payload"})
    image = fields.String(metadata={"description": "PNG as a data URL"})
    generatedAt = fields.String(allow_none=True)


class QrQuerySchema(Schema):
    format = fields.String(validate=validate.OneOf(["json", "png"]), load_default="json")


class PairingRequestSchema(Schema):
    phoneNumber = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PairingCodeSchema(Schema):
    code = fields.String()
    phoneNumber = fields.String()


@blp.route("/status")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.response(200, envelope(StatusSchema))
def status():
    """State of the session (from Redis, never the browser), worker liveness and queue depth."""
    return ok(connection.status(current_session()))


def _command(name: str):
    result = connection.command(current_session(), name)
    audit_target(f"session:{current_session()}", action=f"session.{name}", previousState=result["from"])
    return ok(result, say("session.command", command=name))


@blp.route("/initialize", methods=["POST"])
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.response(202, envelope(CommandSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def initialize():
    """Start the browser (or refresh an idle QR); 409 when already connected."""
    return _command("initialize")


@blp.route("/disconnect", methods=["POST"])
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.response(202, envelope(CommandSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def disconnect():
    """Close the browser; the profile in tokens/<session>/ is kept, so initialize needs no new scan."""
    return _command("disconnect")


@blp.route("/reconnect", methods=["POST"])
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.response(202, envelope(CommandSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def reconnect():
    """Restart the browser on the same profile."""
    return _command("reconnect")


@blp.route("/logout", methods=["POST"])
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.response(202, envelope(CommandSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker serves the session
def logout():
    """Unlink the device from the phone and wipe tokens/<session>/; a new QR follows."""
    return _command("logout")


def qr_png(payload: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(payload, box_size=8, border=2).save(buffer, format="PNG")
    return buffer.getvalue()


@blp.route("/qrcode")
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.arguments(QrQuerySchema, location="query")
@blp.response(200, envelope(QrSchema))
@blp.alt_response(200, description="the QR as a PNG (Accept: image/png or ?format=png)",
                  content_type="image/png", success=True)
@blp.alt_response(404, response="NOT_FOUND")  # no QR produced yet
@blp.alt_response(409, response="CONFLICT")  # already connected: no QR needed
def qr_code(args):
    """The current QR to link a phone: JSON with a PNG data URL, or the PNG itself."""
    state = read_state(current_session())
    if state["state"] == "CONNECTED":
        raise GatewayError(409, "the session is already connected: no QR is needed", ErrorType.CONFLICT)
    if not state["qr"] or not state["alive"]:
        raise GatewayError(404, f"no QR has been produced yet (session {state['state']}); "
                                "POST /api/whatsapp/initialize and try again in a few seconds")
    png = qr_png(state["qr"])
    wants_png = args["format"] == "png" or request.accept_mimetypes.best == "image/png"
    if wants_png:
        return send_file(io.BytesIO(png), mimetype="image/png", max_age=0)
    return ok({"qr": state["qr"], "generatedAt": state["qr_at"],
               "image": "data:image/png;base64," + base64.b64encode(png).decode()})


@blp.route("/pairing-code", methods=["POST"])
@requires(Capability.CONNECTION)
@session_scoped(blp)
@blp.arguments(PairingRequestSchema)
@blp.response(200, envelope(PairingCodeSchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")  # no worker, or it did not answer in time
def pairing_code(args):
    """Link by an 8-character code typed on the phone (WhatsApp > Linked devices > Link with phone number)."""
    phone = valid_phone(args["phoneNumber"])
    code = connection.request_pairing_code(current_session(), phone.formatted)
    audit_target(f"session:{current_session()}", action="session.pairing_code", phoneNumber=phone.formatted)
    return ok({"code": code, "phoneNumber": phone.formatted})
