"""The live event stream (Server-Sent Events), read from the event log and resumable by event id."""
from __future__ import annotations

from flask import Response, current_app, request
from marshmallow import Schema, ValidationError, fields, validate

from core.db import get_engine
from core.errors import GatewayError
from core.redis import get_redis
from services import events
from services.events import EVENT_TYPES, QR_TYPE, LoggedEvent
from web import event_stream
from web.api.blueprint import Blueprint
from web.auth import (STREAM_TOKEN_SECONDS, Capability, Principal, allowed, authorize_session,
                      current_principal, issue_stream_token, requires)
from web.schemas import envelope, ok
from web.session_scope import SessionName

blp = Blueprint("events", __name__, url_prefix="/api/events", description="Live events (SSE) from the event log")


def _types(value: str) -> None:
    unknown = [name for name in value.split(",") if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(f"unknown event types: {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")


class StreamArgs(Schema):
    types = fields.String(validate=[validate.Length(min=1, max=400), _types], metadata={
        "description": f"comma-separated event types (default: all the caller may see): {', '.join(EVENT_TYPES)}"})
    session = SessionName("only this WhatsApp session's events (default: every session the caller may use)")
    after = fields.Integer(validate=validate.Range(min=0, max=2**63 - 1), metadata={
        "description": "replay the log after this event id (the Last-Event-ID header wins); omitted: from now"})
    token = fields.String(validate=validate.Length(max=500), metadata={
        "description": "a stream token (POST /api/events/token) for clients that cannot send Authorization"})


class StreamTokenSchema(Schema):
    token = fields.String()
    expiresIn = fields.Integer(metadata={"description": "seconds"})


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise GatewayError(422, "Last-Event-ID must be an event id", details={"Last-Event-ID": ["an integer"]})
    return int(raw)


def visible_to(principal: Principal, types: set[str] | None, session: str | None):
    """What this caller may see of the log: the role table's QR rule and its allowed sessions."""
    see_qr = allowed(principal.role, Capability.CONNECTION)
    limited = principal.sessions

    def accept(event: LoggedEvent) -> bool:
        if types is not None and event.type not in types:
            return False
        if event.type == QR_TYPE and not see_qr:
            return False
        if session is not None and event.session != session:
            return False
        return limited is None or event.session in limited

    return accept


@blp.route("")
@requires(Capability.VIEW, stream_token=True)
@blp.arguments(StreamArgs, location="query")
@blp.response(200, content_type="text/event-stream", description=(
    "`text/event-stream`: each event is `id: <log id>`, `event: <type>`, `data: {\"id\", \"type\", \"session\", "
    "\"timestamp\", \"data\"}`; `: keep-alive` comments when idle. The stream ends after EVENTS_STREAM_SECONDS; "
    "EventSource reconnects with Last-Event-ID and misses nothing."))
def stream(args):
    """Follow the event log live. QR events only for ADMIN and up; a caller limited to some
    sessions sees only theirs. Resume with `Last-Event-ID` (or `?after=`)."""
    principal = current_principal()
    if args.get("session"):
        authorize_session(principal, args["session"])
    after = _last_event_id()
    if after is None:
        after = args.get("after")
    settings = current_app.config["SETTINGS"]
    source = event_stream.follower(get_engine(), get_redis(), events.channel())
    accept = visible_to(principal, set(args["types"].split(",")) if args.get("types") else None, args.get("session"))
    body = event_stream.stream(source, after, accept, heartbeat_seconds=settings.events_heartbeat_seconds,
                               max_seconds=settings.events_stream_seconds)
    # the stream needs no request context: it holds its engine, filter and settings already
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/token", methods=["POST"])
@requires(Capability.VIEW)
@blp.response(201, envelope(StreamTokenSchema))
def stream_token():
    """A token for `GET /api/events?token=...` (browsers' EventSource sends no headers). It opens
    only the stream, as the caller, and expires within a minute: ask for one per connection."""
    return ok({"token": issue_stream_token(current_principal()), "expiresIn": STREAM_TOKEN_SECONDS})
