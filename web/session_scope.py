"""Which WhatsApp session a request acts on: the optional `session` query parameter of every route
that uses one, resolved here and nowhere else.

Omitted, it is the default session (SESSION_NAME), so the original `/api/whatsapp/...` calls keep
working unchanged. Resolution runs right after the role check and before the body is parsed:
403 when the caller may not use that session (web.auth.authorize_session), 404 when it does not
exist, 409 when it is switched off.
"""
from __future__ import annotations

from functools import wraps

from flask import current_app, g
from marshmallow import Schema, ValidationError, fields, validate

from core.db import db
from core.settings import is_session_name
from models.sessions import NAME_PATTERN
from services import sessions
from web.auth import authorize_session, current_principal, grantable_sessions

SESSION_DOC = ("the WhatsApp session to act on (GET /api/sessions lists them); "
               "omitted: the default session, SESSION_NAME")


def _session_name(value: str) -> None:
    if not is_session_name(value):
        raise ValidationError("a session name: 1 to 32 of a-z, 0-9, _ and -")


def SessionName(description: str | None = None, **kwargs) -> fields.String:
    """A session's name, checked in full (the pattern is documented, not used: Python's `$` would
    accept a trailing newline that PostgreSQL's constraint then refuses)."""
    metadata = {"pattern": NAME_PATTERN, **({"description": description} if description else {})}
    return fields.String(validate=_session_name, metadata=metadata, **kwargs)


class SessionArgs(Schema):
    """The one definition of the `session` query parameter."""

    session = SessionName(SESSION_DOC, load_default=None)


def AllowedSessions(**kwargs) -> fields.List:
    """The `allowedSessions` of a user or API token, as given on create or edit."""
    return fields.List(SessionName(),
                       data_key="allowedSessions", attribute="allowed_sessions", allow_none=True,
                       validate=validate.Length(min=1, max=100), **kwargs, metadata={
                           "description": "the WhatsApp sessions it may use; null: every one (omitted: "
                                          "every one, or the creator's own when the creator is itself "
                                          "limited)"})


def granted_sessions(requested: list[str] | None) -> list[str] | None:
    """The `allowed_sessions` to store on a user or token the caller creates or edits: what it may
    grant (web.auth.grantable_sessions), naming only live sessions (422 otherwise)."""
    return sessions.allowed_list(db, grantable_sessions(current_principal(), requested),
                                 current_app.config["SETTINGS"])


def session_scoped(blp):
    """Declare and resolve `?session=` on a view of `blp`; the view reads `current_session()`.
    Place it right below `@requires(...)`."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, session: str | None = None, **kwargs):
            g.wa_session = resolve(session)
            return view(*args, **kwargs)

        scoped = blp.arguments(SessionArgs, location="query", as_kwargs=True)(wrapper)
        scoped._session_scoped = True  # copied by the outer decorators (functools.wraps): tests find them
        return scoped

    return decorator


def resolve(name: str | None) -> str:
    """The name of the session the caller asked for (or the default), once authorized and usable."""
    settings = current_app.config["SETTINGS"]
    name = name or settings.session_name
    authorize_session(current_principal(), name)
    sessions.usable(db, name, settings)
    return name


def current_session() -> str:
    """The session resolved for this request by `session_scoped`."""
    return g.wa_session


def authorize_row_session(name: str) -> None:
    """A row read by id (a message, a job) belongs to one session: the caller must be allowed it."""
    authorize_session(current_principal(), name)
