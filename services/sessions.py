"""WhatsApp sessions as a resource: create, change, list, delete, and the pacing caps in force.

The configured SESSION_NAME is the default session: every route that is not told which session to
use acts on it. Its row is created at first use (`ensure_default`, an idempotent upsert) rather than
by the migration, which does not read the application's settings and would not bring it back after
a table is emptied. Services only flush; the boundary commits.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.db import after_commit, get_engine
from core.errors import GatewayError
from core.settings import Settings
from models import WaSession
from models.base import utcnow
from models.enums import ErrorType
from services import runtime_settings

log = logging.getLogger(__name__)

# the per-session overrides, named as the settings whose defaults they override
CAP_FIELDS = ("send_min_interval_ms", "send_jitter_ms", "send_max_per_second", "send_max_per_hour",
              "send_max_per_day")
# what the session's worker reads with its caps (PacingCaps), beside them: none of them is a number to cap
BEHAVIOUR_FIELDS = ("quiet_hours", "quiet_timezone", "quiet_hold_singles", "typing_before_send")
BEHAVIOUR_DEFAULTS = {"quiet_hold_singles": False, "typing_before_send": False}
EDITABLE = frozenset({"description", "active", *BEHAVIOUR_FIELDS, *CAP_FIELDS})


@dataclass(frozen=True)
class PacingCaps:
    """The pacing of one session's sends (worker.pacer.Pacer). 0 hourly or daily = no cap."""

    min_interval_ms: int
    jitter_ms: int
    max_per_second: int
    max_per_hour: int
    max_per_day: int
    quiet_hours: str | None = None  # bulk and campaign messages wait in this daily window
    quiet_timezone: str | None = None  # null: TIMEZONE
    quiet_hold_singles: bool = False  # the quiet hours hold single interactive sends too
    typing_before_send: bool = False  # "typing..." in the chat before each send (worker/composing.py)


def default_caps(settings: Settings) -> PacingCaps:
    return PacingCaps(*(getattr(settings, name) for name in CAP_FIELDS))


def caps_of(row: WaSession | None, settings: Settings) -> PacingCaps:
    """The row's overrides where set, the settings' values elsewhere."""
    values = [getattr(row, name, None) for name in CAP_FIELDS]
    return PacingCaps(*(getattr(settings, name) if value is None else value
                        for name, value in zip(CAP_FIELDS, values)),
                      **{name: getattr(row, name, None) if getattr(row, name, None) is not None
                         else BEHAVIOUR_DEFAULTS.get(name) for name in BEHAVIOUR_FIELDS})


def pacing_for(session: Session, name: str, settings: Settings) -> PacingCaps:
    """The caps in force for session `name`: its row's own, else the runtime settings', else the
    environment's (the defaults for a session without a row)."""
    return caps_of(session.scalar(select(WaSession).where(WaSession.name == name)),
                   runtime_settings.effective(session, settings))


def by_name(session: Session, name: str) -> WaSession | None:
    """The row named `name`, deleted or not."""
    return session.scalar(select(WaSession).where(WaSession.name == name))


def ensure_default(settings: Settings) -> None:
    """Create the default session's row unless it exists, in a transaction of its own committed at
    once: inside the request's, the new row's lock would hold every concurrent first request until
    that request ends. Concurrent callers: one insert wins, the others do nothing."""
    with get_engine().begin() as connection:
        connection.execute(insert(WaSession).values(name=settings.session_name, active=True,
                                                    description="the default session (SESSION_NAME)")
                           .on_conflict_do_nothing(index_elements=["name"]))


def get_or_404(session: Session, name: str, settings: Settings) -> WaSession:
    """The live (not deleted) session `name`; the default one is created on first use."""
    row = by_name(session, name)
    if row is None and name == settings.session_name:
        ensure_default(settings)
        row = by_name(session, name)
    if row is None or row.deleted_at is not None:
        raise GatewayError(404, f"no WhatsApp session named {name!r}: GET /api/sessions lists them")
    return row


def usable(session: Session, name: str, settings: Settings) -> WaSession:
    """The session a request acts on: 404 when unknown or deleted, 409 when switched off."""
    row = get_or_404(session, name, settings)
    if not row.active:
        raise GatewayError(409, f"the WhatsApp session {name!r} is not active: PATCH /api/sessions/{name} "
                                '{"active": true} to use it', ErrorType.CONFLICT)
    return row


def list_sessions(session: Session, settings: Settings, active: bool | None = None) -> list[WaSession]:
    """Live sessions by name (the default one included, created if need be)."""
    ensure_default(settings)
    query = select(WaSession).where(WaSession.deleted_at.is_(None)).order_by(WaSession.name)
    if active is not None:
        query = query.where(WaSession.active.is_(active))
    return list(session.scalars(query))


def create(session: Session, settings: Settings, *, name: str, by: str | None, **values: Any) -> WaSession:
    """A new session; a deleted one of the same name comes back with the new values (its profile
    was wiped when it was deleted, so it starts unlinked). 409 when a live one has the name."""
    if name == settings.session_name:
        ensure_default(settings)
    row = by_name(session, name)
    if row is not None and row.deleted_at is None:
        raise GatewayError(409, f"a WhatsApp session named {name!r} exists already", ErrorType.CONFLICT)
    if row is None:
        row = WaSession(name=name)
        session.add(row)
    row.description, row.active = None, True
    for field in (*CAP_FIELDS, *BEHAVIOUR_FIELDS):
        setattr(row, field, BEHAVIOUR_DEFAULTS.get(field))
    row.created_at, row.created_by, row.updated_by = utcnow(), by, by
    row.deleted_at = row.deleted_by = None
    _apply(row, values)
    session.flush()
    return row


def update(session: Session, row: WaSession, *, by: str | None, **values: Any) -> WaSession:
    """Change description, active and pacing caps (None puts a cap back to the default)."""
    _apply(row, values)
    row.updated_by = by
    session.flush()
    return row


def _apply(row: WaSession, values: dict[str, Any]) -> None:
    unknown = set(values) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for field, value in values.items():
        setattr(row, field, value)


def delete(session: Session, row: WaSession, settings: Settings, *, by: str | None) -> None:
    """Mark the session deleted and switched off, and once that is committed queue the logout
    command on its control list: the worker driving it unlinks the device and wipes
    TOKENS_DIR/<name>/ (at once if one drives it now, else whenever one next does)."""
    if row.name == settings.session_name:
        raise GatewayError(409, f"{row.name!r} is the default session (SESSION_NAME): it cannot be deleted",
                           ErrorType.CONFLICT)
    row.active = False
    row.deleted_at, row.deleted_by, row.updated_by = utcnow(), by, by
    session.flush()
    name = row.name
    after_commit(session, lambda: _queue_logout(name))


def _queue_logout(name: str) -> None:
    from services.session_state import send_control

    try:
        send_control(name, "logout")
    except Exception:  # noqa: BLE001 - the deletion is committed; say loudly that the unlink is not queued
        log.exception("session %s deleted, but its logout could not be queued: unlink it from the phone",
                      name)


def allowed_list(session: Session, names: Iterable[str] | None, settings: Settings) -> list[str] | None:
    """A user's or token's `allowed_sessions`: None (every session) or live session names, each
    once; 422 naming those that are no live session (a caller limited to a typo could use nothing)."""
    if names is None:
        return None
    wanted = list(dict.fromkeys(names))
    if settings.session_name in wanted:
        ensure_default(settings)
    known = set(session.scalars(select(WaSession.name).where(WaSession.name.in_(wanted),
                                                             WaSession.deleted_at.is_(None))))
    if unknown := [name for name in wanted if name not in known]:
        raise GatewayError(422, f"no WhatsApp session named {', '.join(unknown)}",
                           details={"allowedSessions": unknown})
    return wanted
