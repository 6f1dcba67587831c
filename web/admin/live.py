"""The panel's side of the event stream: pages open one EventSource on GET /api/events (see
static/panel.js). EventSource sends no Authorization header, and the panel has no bearer token
anyway: this route gives the logged-in user the same short-lived stream token POST
/api/events/token gives an API client, so the stream shows exactly what the role table lets
this user see there."""
from __future__ import annotations

from flask import g, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import db
from models import Event
from web.admin.blueprint import blp
from web.admin.security import panel_page
from web.auth import STREAM_TOKEN_SECONDS, Capability, issue_stream_token
from web.schemas import ok


@blp.route("/events/token", methods=["POST"])
@panel_page(Capability.VIEW)  # as POST /api/events/token; a POST, so the CSRF check runs first
def stream_token():
    return jsonify(ok({"token": issue_stream_token(g.principal), "expiresIn": STREAM_TOKEN_SECONDS})), 201


@blp.context_processor
def _stream_position():
    """`stream_after()`: the last event id when the page is rendered. Its stream starts there
    (`?after=`), so what changes between the render and the stream's opening, or while the browser
    reconnects before any event came, is replayed rather than lost (an index lookup)."""
    def stream_after() -> int | str:
        try:
            return db.scalar(select(func.max(Event.id))) or 0
        except SQLAlchemyError:  # an error page after a failed statement: it has no live parts anyway
            return ""

    return {"stream_after": stream_after}
