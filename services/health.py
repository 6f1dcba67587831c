"""The health check beat runs every minute: is the session's worker alive, is its browser working,
is work piling up? A session the worker can bring back gets a control command; every problem is an
alert (logged, and published as `{"type": "alert", ...}` on the session's event channel).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from core.redis import Keys, get_redis
from sqlalchemy.orm import Session

from services import dispatch, events
from services.session_state import read_state, send_control

log = logging.getLogger(__name__)

WAITING_FOR_A_PERSON = ("QR_REQUIRED", "PAIRING_CODE", "LOGGED_OUT")
TRANSIENT = ("STARTING", "DISCONNECTED")


@dataclass
class HealthReport:
    session: str
    state: str
    alive: bool
    heartbeat_age: float | None
    queue_depth: dict[str, int]
    action: str | None = None
    alerts: list[str] = field(default_factory=list)


def _age(since: str | None) -> float:
    try:
        return time.time() - datetime.fromisoformat(since).timestamp() if since else 0.0
    except ValueError:
        return 0.0


def check(session: str, *, stuck_seconds: float, backlog_alert: int = 1000,
          store: Session | None = None) -> HealthReport:
    """`store`: the database session the alerts' `alert.raised` events are recorded in."""
    state = read_state(session)
    report = HealthReport(session, state["last_state"] if state["alive"] else "STOPPED", state["alive"],
                          state["heartbeat_age"], dispatch.queue_depth(session))
    if not state["alive"]:
        report.alerts.append("no worker is driving the session (no heartbeat): start "
                             f"`celery -A worker worker -Q wa.{session}`")
    elif report.state == "FAILED":
        report.action = "reconnect"
        report.alerts.append(f"the browser failed ({state['error'] or 'no detail'}): restarting it")
    elif report.state in TRANSIENT and _age(state["since"]) > stuck_seconds:
        report.action = "reconnect"
        report.alerts.append(f"the session is {report.state} for {_age(state['since']):.0f} s: restarting the browser")
    elif report.state in WAITING_FOR_A_PERSON:
        report.alerts.append(f"the session is {report.state}: link the phone again (QR or pairing code)")
    waiting = report.queue_depth["total"]
    if waiting >= backlog_alert:
        report.alerts.append(f"{waiting} tasks waiting on the session's queues")
    if report.action:
        send_control(session, report.action)
    for text in report.alerts:
        alert(session, text, store=store, state=report.state, action=report.action)
    return report


def alert(session: str, text: str, store: Session | None = None, **details) -> None:
    log.warning("health: session %s: %s", session, text)
    if store is not None:
        events.alert(store, session, text, "health_check", **details)
    event = {"type": "alert", "session": session, "message": text, "source": "health_check",
             "at": datetime.now(timezone.utc).timestamp(), **details}
    get_redis().publish(Keys.session_events(session), json.dumps(event, default=str))


def as_dict(report: HealthReport) -> dict:
    return asdict(report)


def purge_old_qr(session: str, max_age_seconds: float) -> bool:
    """Drop a QR payload older than `max_age_seconds` from the state hash (WhatsApp rotates it every
    20 s; an old one only leaks a link code). True when one was dropped."""
    client = get_redis()
    key = Keys.session_state(session)
    qr, qr_at = client.hmget(key, "qr", "qr_at")
    if not qr:
        return False
    if qr_at and _age(qr_at) <= max_age_seconds:
        return False
    client.hset(key, mapping={"qr": "", "qr_at": ""})
    return True
