"""The panel's blueprint and what every page shares: the role and CSRF checks' answers as pages,
the WhatsApp session a page shows (`?session=`), the template globals, and the static assets."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, render_template, request, send_from_directory

from core.db import db
from core.errors import GatewayError, error_body
from core.settings import is_session_name
from models.enums import ErrorType
from services import sessions
from web.admin.security import NotLoggedIn, check_csrf, csrf_token, to_login
from web.auth import Capability, allowed, public
from web.errors import request_language
from web.session_scope import resolve
from web.texts import say

blp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
blp.before_request(check_csrf)
STATIC_DIR = Path(__file__).parent / "static"
@blp.context_processor
def _page_globals():
    principal = g.get("principal")
    return {
        "principal": principal,
        "can": lambda name: principal is not None and allowed(principal.role, Capability[name]),
        "csrf_token": csrf_token,
        "error_text": error_text,
        "_": say,  # every text of a page: its Italian, or its English (web/admin/texts.py)
        "lang": request_language(),
    }


@blp.app_template_filter("local")
def local_time(moment: datetime | None, fmt: str = "%d/%m %H:%M") -> str:
    """A stored (UTC) time in the gateway's TIMEZONE, as the statistics count days."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(current_app.config["SETTINGS"].timezone)).strftime(fmt)


@blp.errorhandler(NotLoggedIn)
def _not_logged_in(_error):
    return to_login()


@blp.errorhandler(GatewayError)
def _error_page(error: GatewayError):
    """A refused or failed panel request: the API's envelope, as a page."""
    body = failure(error)
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


def failure(error: GatewayError) -> dict:
    """The error as the API's envelope has it (userMessage and suggestions in the reader's language)."""
    return error_body(error.error_type, error.message, request_language(), error.details)["error"]


def error_text(error_type: str | None) -> str:
    """A failed message's reason in the reader's language (the API's `userMessage` of its type)."""
    kind = error_type if error_type in ErrorType.__members__ else ErrorType.UNKNOWN
    return error_body(ErrorType(kind), "", request_language())["error"]["userMessage"]
