"""The admin panel at /admin: server-rendered pages (Jinja) over the same services as the API.

One way to build a page: a Flask view here calls the service layer and renders a template; the
browser never calls the JSON API (that needs a bearer token, the panel has a session cookie).
Live parts of a page are HTML fragments re-fetched by one client-side function (static/panel.js)
when the event stream announces a change.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask

from core.settings import Settings

PANEL_BLUEPRINT = "admin"
SESSION_HOURS = 8


def init_panel(app: Flask, settings: Settings) -> None:
    """The panel's session cookie and its blueprint. The cookie is signed with a key derived from
    JWT_SECRET (one secret to set and rotate: rotating it logs out API and panel users alike)."""
    app.config.update(
        SECRET_KEY=hashlib.sha256(b"admin-panel-session:" + settings.jwt_secret.encode()).hexdigest(),
        SESSION_COOKIE_NAME="wagateway_admin",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,  # production is served over HTTPS
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    from web.admin import bulk, connection, live, login, messaging, monitoring  # noqa: F401 - their views join the blueprint
    from web.admin import accounts, audit, language  # noqa: F401
    from web.admin import contacts, message_templates, scheduled  # noqa: F401
    from web.admin.blueprint import blp

    app.register_blueprint(blp)
