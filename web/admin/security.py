"""Who is using the panel: the login kept in the session cookie, the CSRF token of every form,
and the one decorator that checks THE role table (web.auth.ROLE_CAPABILITIES) before a page runs."""
from __future__ import annotations

import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from core.errors import GatewayError
from models.enums import ErrorType
from web.auth import Capability, Principal, allowed, load_principal

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use, also before login: the login form
    carries one too, so a third-party page cannot log a victim into the attacker's account)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """Every state-changing panel request carries the session's token, in the form or a header."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_FIELD)
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise GatewayError(400, "the form's CSRF token is missing or wrong: reload the page and try again",
                           ErrorType.VALIDATION_ERROR)


def log_in(principal: Principal) -> None:
    """A fresh session for the user (no fixation): identity and a new CSRF token."""
    session.clear()
    session.permanent = True
    session["identity"] = principal.id
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def log_out() -> None:
    session.clear()


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside the panel (never another site)."""
    if target and target.startswith("/admin") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("admin.connection_page")


class NotLoggedIn(Exception):
    """No (or no longer valid) login: the panel answers with its login page."""


def panel_principal() -> Principal | None:
    """The logged-in user, resolved on every request like an API token (web.auth.load_principal):
    a deactivated user is out at the next click."""
    identity = session.get("identity")
    return load_principal(identity) if identity else None


def panel_page(capability: Capability):
    """Log-in required, then the role table: 403 for a role without `capability`. The RBAC tests
    read `_access` as they do on API views."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = panel_principal()
            if principal is None:
                raise NotLoggedIn()
            g.principal = principal
            if not allowed(principal.role, capability):
                raise GatewayError(403, f"role {principal.role} may not: {capability.value}",
                                   ErrorType.PERMISSION_DENIED)
            return view(*args, **kwargs)

        wrapper._access = capability
        return wrapper

    return decorator


def to_login():
    """A page goes to the login form (and back after it); a polled fragment answers 401, and the
    page's script reloads itself into the login form."""
    if request.headers.get("X-Panel-Fragment"):
        return "login required", 401
    if request.method == "GET":
        return redirect(url_for("admin.login_form", next=request.full_path.rstrip("?")))
    return redirect(url_for("admin.login_form"))
