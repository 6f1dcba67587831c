"""The panel's pages: log in and out, and the WhatsApp connection (state, QR, commands).

A view reads like an API view: check access (panel_page), call one service, render. Forms post
back and redirect (a reload never re-posts); errors are shown in the page, in Italian by default
like the API's `userMessage`.
"""
from __future__ import annotations

import io
from pathlib import Path

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, send_file,
                   send_from_directory, url_for)
from marshmallow import ValidationError

from core.db import db
from core.errors import GatewayError, error_body
from core.settings import is_session_name
from models.enums import ErrorType
from services import accounts, connection, sessions
from services.session_state import read_state
from web.admin.security import (NotLoggedIn, check_csrf, csrf_token, log_in, log_out, panel_page, safe_next,
                                to_login)
from web.api.auth import LoginSchema
from web.api.messages import valid_phone
from web.api.session import qr_png
from web.auth import Capability, allowed, public, user_principal
from web.errors import request_language
from web.ratelimit import rate_limited
from web.session_scope import resolve
from web.transaction import audit_target

blp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
blp.before_request(check_csrf)
STATIC_DIR = Path(__file__).parent / "static"

COMMANDS = {  # command -> what the confirmation dialog asks
    "initialize": "Avviare la sessione WhatsApp?",
    "reconnect": "Riavviare il browser della sessione?",
    "disconnect": "Chiudere il browser? Il collegamento al telefono resta.",
    "logout": "Scollegare il telefono? Servirà una nuova scansione del QR.",
}


@blp.context_processor
def _page_globals():
    principal = g.get("principal")
    return {
        "principal": principal,
        "can": lambda name: principal is not None and allowed(principal.role, Capability[name]),
        "csrf_token": csrf_token,
    }


@blp.errorhandler(NotLoggedIn)
def _not_logged_in(_error):
    return to_login()


@blp.errorhandler(GatewayError)
def _error_page(error: GatewayError):
    """A refused or failed panel request: the API's envelope, as a page."""
    body = error_body(error.error_type, error.message, request_language(), error.details)["error"]
    if request.headers.get("X-Panel-Fragment"):
        return render_template("admin/_error.html", error=body), error.status
    return render_template("admin/error.html", error=body, status=error.status), error.status


def panel_session() -> str:
    """The WhatsApp session the page shows: `?session=` (default SESSION_NAME), allowed and usable."""
    name = request.args.get("session") or None
    if name is not None and not is_session_name(name):
        raise GatewayError(422, "session: 1 to 32 of a-z, 0-9, _ and -", ErrorType.VALIDATION_ERROR)
    return resolve(name)


def visible_sessions() -> list[str]:
    names = [row.name for row in sessions.list_sessions(db, current_app.config["SETTINGS"], active=True)]
    limit = g.principal.sessions
    return [name for name in names if limit is None or name in limit]


@blp.route("/static/<path:filename>", methods=["GET"])
@public
def asset(filename: str):
    return send_from_directory(STATIC_DIR, filename, max_age=3600)


# ----- login ------------------------------------------------------------------------------------
@blp.route("/login", methods=["GET"])
@public
def login_form():
    return render_template("admin/login.html", next=safe_next(request.args.get("next")))


@blp.route("/login", methods=["POST"])
@public
@rate_limited(lambda settings: settings.rate_limit_login)
def login():
    """The API's users and passwords (services.accounts.authenticate), kept in the session cookie."""
    target = safe_next(request.form.get("next"))
    try:
        args = LoginSchema().load({"email": request.form.get("email", ""),
                                   "password": request.form.get("password", "")})
    except ValidationError:
        return render_template("admin/login.html", next=target, failed=True), 422
    g.audit_actor_name = accounts.normalise_email(args["email"])
    try:
        user = accounts.authenticate(db, args["email"], args["password"])
    except GatewayError as error:
        return render_template("admin/login.html", next=target, failed=True), error.status
    g.principal = user_principal(user)
    audit_target(g.principal.id, action="admin.login")
    log_in(g.principal)
    return redirect(target)


@blp.route("/logout", methods=["POST"])
@panel_page(Capability.AUTHENTICATED)
def logout():
    audit_target(g.principal.id, action="admin.logout")
    log_out()
    return redirect(url_for("admin.login_form"))


@blp.route("/", methods=["GET"])
@panel_page(Capability.VIEW)
def index():
    return redirect(url_for("admin.connection"))


# ----- connection -------------------------------------------------------------------------------
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
    flash(f"Codice di collegamento per {phone.formatted}: {code}", "code")
    return redirect(url_for("admin.connection_page", session=session))
