"""The audit log with its filters (actor, action, outcome, time range; a page at a time) and the
error counters with their reset per session: SUPER_ADMIN, through the API's own functions
(web.api.audit.audit_page, web.api.stats.reset_counters)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for

from core.db import db
from core.errors import GatewayError
from models.enums import ErrorType
from services import error_stats
from web.admin.blueprint import blp, panel_session, visible_sessions
from web.admin.forms import validated
from web.admin.security import panel_page
from web.api.audit import AuditQuerySchema, audit_page
from web.api.stats import reset_counters
from web.auth import Capability
from web.texts import say

PAGE_SIZE = 50
FILTERS = ("actor", "action", "outcome", "from", "to")
OUTCOMES = ("success", "denied", "invalid", "error")


def _aware(value: str) -> str:
    """A `datetime-local` field (no offset) read in the gateway's TIMEZONE, as the pages show times;
    the API's schema then reads it as it reads `from` and `to` in a query."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise GatewayError(422, f"not a date and time: {value[:40]!r}", ErrorType.VALIDATION_ERROR) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["SETTINGS"].timezone))
    return moment.isoformat()


@blp.route("/audit", methods=["GET"])
@panel_page(Capability.ADMINISTER)
def audit_log_page():
    filters = {key: request.args.get(key, "").strip()[:200] for key in FILTERS}
    query = {key: value for key, value in filters.items() if value}
    for key in ("from", "to"):
        if key in query:
            query[key] = _aware(query[key])
    args = validated(AuditQuerySchema(), {**query, "limit": PAGE_SIZE, "cursor": request.args.get("cursor") or None})
    rows, next_cursor = audit_page(args)
    return render_template("admin/audit.html", rows=rows, next_cursor=next_cursor, filters=filters,
                           links={key: value for key, value in filters.items() if value},
                           outcomes=OUTCOMES, first_page=not request.args.get("cursor"))


@blp.route("/errors", methods=["GET"])
@panel_page(Capability.ADMINISTER)
def error_counters_page():
    session = panel_session()
    counters = error_stats.counters(db, session)
    return render_template("admin/errors.html", session=session, sessions=visible_sessions(), counters=counters,
                           total=sum(counter.count for counter in counters))


@blp.route("/errors/reset", methods=["POST"])
@panel_page(Capability.ADMINISTER)
def reset_error_counters():
    session = panel_session()
    reset_counters(session)
    flash(say("Contatori degli errori della sessione {session} azzerati", session=session), "ok")
    return redirect(url_for("admin.error_counters_page", session=session))
