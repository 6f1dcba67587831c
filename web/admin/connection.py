"""The connection page: live state, phone, worker heartbeat, queue depths, the QR as it rotates,
and the commands (initialize, disconnect, reconnect, logout, pairing code) for who may use them."""
from __future__ import annotations

import io

from flask import flash, redirect, render_template, request, send_file, url_for

from core.errors import GatewayError
from models.enums import ErrorType
from services import connection
from services.session_state import read_state
from web.admin.blueprint import blp, panel_session, visible_sessions
from web.admin.security import panel_page
from web.api.messages import valid_phone
from web.api.session import qr_png
from web.auth import Capability
from web.texts import say
from web.transaction import audit_target

COMMANDS = {  # command -> what the confirmation dialog asks (in Italian: the page translates it)
    "initialize": "Avviare la sessione WhatsApp?",
    "reconnect": "Riavviare il browser della sessione?",
    "disconnect": "Chiudere il browser? Il collegamento al telefono resta.",
    "logout": "Scollegare il telefono? Servirà una nuova scansione del QR.",
}


@blp.route("/connection", methods=["GET"])
@panel_page(Capability.VIEW)
def connection_page():
    session = panel_session()
    return render_template("admin/connection.html", session=session, sessions=visible_sessions(),
                           status=connection.status(session), commands=COMMANDS)


@blp.route("/connection/state", methods=["GET"])
@panel_page(Capability.VIEW)
def connection_state():
    """The live part of the connection page (state, phone, heartbeat, queues, QR), polled."""
    session = panel_session()
    return render_template("admin/_connection_state.html", session=session, status=connection.status(session))


@blp.route("/connection/qr.png", methods=["GET"])
@panel_page(Capability.CONNECTION)
def connection_qr():
    state = read_state(panel_session())
    if state["state"] != "QR_REQUIRED" or not state["qr"] or not state["alive"]:
        raise GatewayError(404, f"no QR to scan (session {state['state']})")
    return send_file(io.BytesIO(qr_png(state["qr"])), mimetype="image/png", max_age=0)


@blp.route("/connection/command", methods=["POST"])
@panel_page(Capability.CONNECTION)
def connection_command():
    """initialize, disconnect, reconnect or logout (services.connection.command, as the API)."""
    session = panel_session()
    name = request.form.get("command", "")
    if name not in COMMANDS:
        raise GatewayError(422, f"command: one of {', '.join(COMMANDS)}", ErrorType.VALIDATION_ERROR)
    result = connection.command(session, name)  # refused (409, 503): the error page, audited as such
    audit_target(f"session:{session}", action=f"session.{name}", previousState=result["from"])
    flash(f"{name}: {result['from']} → {result['state']}", "ok")
    return redirect(url_for("admin.connection_page", session=session))


@blp.route("/connection/pairing-code", methods=["POST"])
@panel_page(Capability.CONNECTION)
def pairing_code():
    """Link by an 8-character code typed on the phone instead of scanning the QR."""
    session = panel_session()
    phone = valid_phone(request.form.get("phoneNumber", "")[:64])
    code = connection.request_pairing_code(session, phone.formatted)
    audit_target(f"session:{session}", action="session.pairing_code", phoneNumber=phone.formatted)
    flash(say("Codice di collegamento per {phone}: {code}", phone=phone.formatted, code=code), "code")
    return redirect(url_for("admin.connection_page", session=session))
