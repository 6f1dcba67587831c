"""The panel's language switch: Italian by default, English by Accept-Language or this choice,
kept in a cookie scoped to /admin that web.errors.request_language reads (so the API's
`userMessage` and say() texts on a panel page follow it too)."""
from __future__ import annotations

from flask import current_app, redirect, request

from core.errors import GatewayError
from models.enums import ErrorType
from web.admin.blueprint import blp
from web.admin.security import safe_next
from web.auth import public
from web.errors import LANGUAGE_COOKIE, LANGUAGES

KEEP_DAYS = 365


@blp.route("/language", methods=["POST"])
@public  # the login form has the switch too; the CSRF check still runs (blueprint's before_request)
def set_language():
    chosen = request.form.get("lang", "")
    if chosen not in LANGUAGES:
        raise GatewayError(422, f"lang: one of {', '.join(LANGUAGES)}", ErrorType.VALIDATION_ERROR)
    response = redirect(safe_next(request.form.get("next")))
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=KEEP_DAYS * 86400, path="/admin", httponly=True,
                        samesite="Lax", secure=current_app.config["SETTINGS"].is_production)
    return response
