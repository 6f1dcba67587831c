"""Alerts the gateway raises about itself: stored, one open row per kind and subject while the
condition lasts, resolved when a later check no longer finds it.

Beat's health check (tasks/health.py) finds the conditions (services/health.py) and hands the whole
list to `record`; an open alert the list no longer holds is resolved. `changed` is the one place an
alert is raised or resolved: what else should happen then (an event for webhooks) goes there.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import after_commit
from core.redis import Keys, get_redis
from models import Alert
from services import events

log = logging.getLogger(__name__)

RAISED, RESOLVED = "raised", "resolved"


@dataclass(frozen=True)
class Condition:
    """Something wrong now: `kind` (a fixed word), `subject` (a session's name, a store, or "")."""

    kind: str
    subject: str
    message: str
    session: str | None = None  # the WhatsApp session it is about, if any (its event channel)
    details: dict = field(default_factory=dict)


def record(session: Session, found: list[Condition]) -> dict[str, int]:
    """Open an alert for each new condition, refresh the open ones still found, resolve the others.
    The caller commits. -> counts of raised, ongoing and resolved alerts."""
    stamp = datetime.now(timezone.utc)
    open_alerts = {(a.kind, a.subject): a for a in session.scalars(
        select(Alert).where(Alert.resolved_at.is_(None)).with_for_update())}
    counts = {RAISED: 0, "ongoing": 0, RESOLVED: 0}
    for condition in {(c.kind, c.subject): c for c in found}.values():
        alert = open_alerts.pop((condition.kind, condition.subject), None)
        details = {**condition.details, **({"session": condition.session} if condition.session else {})}
        if alert is not None:
            alert.last_seen_at, alert.message, alert.details = stamp, condition.message, details
            counts["ongoing"] += 1
            continue
        alert = Alert(kind=condition.kind, subject=condition.subject, message=condition.message,
                      details=details, raised_at=stamp, last_seen_at=stamp)
        session.add(alert)
        session.flush()
        changed(session, alert, RAISED)
        counts[RAISED] += 1
    for alert in open_alerts.values():
        alert.resolved_at = stamp
        changed(session, alert, RESOLVED)
        counts[RESOLVED] += 1
    return counts


def changed(session: Session, alert: Alert, change: str) -> None:
    """THE place an alert is raised or resolved (in the caller's transaction): logged, recorded in
    the event log (`alert.raised` / `alert.resolved`, for the stream and webhooks), and once
    committed published on its session's event channel as `{"type": "alert", "status": "raised" | "resolved", ...}`."""
    level = logging.WARNING if change == RAISED else logging.INFO
    log.log(level, "alert %s: %s %s: %s", change, alert.kind, alert.subject or "-", alert.message)
    channel = (alert.details or {}).get("session")
    events.record(session, f"alert.{change}", channel, [{
        "id": str(alert.id), "kind": alert.kind, "subject": alert.subject, "session": channel,
        "message": alert.message, "source": "health_check", "details": alert.details or {},
        "raisedAt": alert.raised_at, "resolvedAt": alert.resolved_at}])
    # the details (state, action...) also at the top level, as the live channel's alerts always had them
    event = {**(alert.details or {}), "type": "alert", "status": change, "id": str(alert.id), "kind": alert.kind,
             "subject": alert.subject, "message": alert.message, "session": channel, "details": alert.details or {},
             "source": "health_check", "at": datetime.now(timezone.utc).timestamp()}
    if channel:
        after_commit(session, lambda: _publish(channel, event))


def _publish(session_name: str, event: dict) -> None:
    try:
        get_redis().publish(Keys.session_events(session_name), json.dumps(event, default=str))
    except redis.RedisError as exc:  # the row is the record; the live channel is a courtesy
        log.warning("alert event not published (%s)", type(exc).__name__)
