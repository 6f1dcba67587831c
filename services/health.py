"""What beat's health check finds wrong (tasks/health.py, every HEALTH_CHECK_SECONDS): each problem is
a `Condition` that services/alerts.py stores as an alert while it lasts. A session the worker can
bring back also gets a control command (reconnect).

Per session: no worker, browser FAILED or stuck, waiting for a person (QR), a backlog, not CONNECTED
for ALERT_DISCONNECTED_MINUTES, the oldest due message QUEUED for ALERT_QUEUE_AGE_MINUTES, today's
error rate above ALERT_ERROR_RATE, more than ALERT_BROWSER_RESTARTS_PER_HOUR restarts in the last hour,
CONNECTED less than ALERT_UPTIME_PERCENT of the last 24 hours.
For the host: free disk under TOKENS_DIR below ALERT_DISK_FREE_MB.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import metrics
from core.redis import Keys, get_redis
from core.settings import Settings
from models import Message
from models.enums import Direction, MessageStatus
from services import dispatch, stats, uptime
from services.alerts import Condition
from services.session_state import read_state, restarts_within, send_control

log = logging.getLogger(__name__)

WAITING_FOR_A_PERSON = ("QR_REQUIRED", "PAIRING_CODE", "LOGGED_OUT")
TRANSIENT = ("STARTING", "DISCONNECTED")
BACKLOG_ALERT = 1000  # tasks waiting on a session's queues
UPTIME_HOURS = 24
UPTIME_MIN_SECONDS = 3600  # the uptime is judged once this much of the session's time was checked


@dataclass
class HealthReport:
    session: str
    state: str
    alive: bool
    heartbeat_age: float | None
    queue_depth: dict[str, int]
    action: str | None = None
    alerts: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list, repr=False)

    def found(self, kind: str, message: str, **details) -> None:
        self.alerts.append(message)
        self.conditions.append(Condition(kind, self.session, message, self.session,
                                         {"state": self.state, **({"action": self.action} if self.action else {}),
                                          **details}))


def _age(since: str | None) -> float:
    try:
        return time.time() - datetime.fromisoformat(since).timestamp() if since else 0.0
    except ValueError:
        return 0.0


def check(session: str, settings: Settings, db: Session | None = None) -> HealthReport:
    """The session's conditions from Redis (and from PostgreSQL when `db` is given); sends the
    reconnect a FAILED or stuck session needs."""
    state = read_state(session)
    report = HealthReport(session, state["last_state"] if state["alive"] else "STOPPED", state["alive"],
                          state["heartbeat_age"], dispatch.queue_depth(session))
    if not state["alive"]:
        report.found("session_no_worker", "no worker is driving the session (no heartbeat): start "
                                          f"`celery -A worker worker -Q wa.{session}`")
    elif report.state == "FAILED":
        report.action = "reconnect"
        report.found("browser_failed", f"the browser failed ({state['error'] or 'no detail'}): restarting it")
    elif report.state in TRANSIENT and _age(state["since"]) > settings.health_stuck_seconds:
        report.action = "reconnect"
        report.found("session_stuck", f"the session is {report.state} for {_age(state['since']):.0f} s: "
                                      "restarting the browser")
    elif report.state in WAITING_FOR_A_PERSON:
        report.found("session_needs_link", f"the session is {report.state}: link the phone again (QR or pairing code)")
    _check_down(report, state, settings)
    waiting = report.queue_depth["total"]
    if waiting >= BACKLOG_ALERT:
        report.found("queue_backlog", f"{waiting} tasks waiting on the session's queues", waiting=waiting)
    restarts = restarts_within(session)
    if restarts > settings.alert_browser_restarts_per_hour:
        report.found("browser_restarts", f"the browser restarted {restarts} times in the last hour "
                                         f"(more than {settings.alert_browser_restarts_per_hour})", restarts=restarts)
    if db is not None:
        _check_uptime(report, db, settings)
        _check_queue_age(report, db, settings)
        _check_error_rate(report, db, settings)
    if report.action:
        send_control(session, report.action)
    return report


def _check_down(report: HealthReport, state: dict, settings: Settings) -> None:
    """Not CONNECTED for longer than ALERT_DISCONNECTED_MINUTES: since the state changed while a
    worker drives it, since the last heartbeat when none does (never driven: down all along)."""
    if report.state == "CONNECTED":
        return
    down_for = _age(state["since"]) if state["alive"] else state["heartbeat_age"]
    limit = settings.alert_disconnected_minutes * 60
    if down_for is None or down_for > limit:
        how_long = "ever since it was created" if down_for is None else f"for {down_for / 60:.0f} minutes"
        report.found("session_down", f"the session is not CONNECTED ({report.state}) {how_long}",
                     seconds=None if down_for is None else round(down_for))


def oldest_queued(db: Session, session: str | None = None) -> dict[str, datetime]:
    """Per session (or for `session`), when its oldest message due now (not a retry waiting for its
    time) still QUEUED was created: the queue's age, for the alert and for /metrics."""
    query = (select(Message.session, func.min(Message.created_at))
             .where(Message.status == MessageStatus.QUEUED.value,
                    or_(Message.not_before.is_(None), Message.not_before <= datetime.now(timezone.utc)))
             .group_by(Message.session))
    if session is not None:
        query = query.where(Message.session == session)
    return dict(db.execute(query).all())


def _check_uptime(report: HealthReport, db: Session, settings: Settings) -> None:
    """Count this check's interval towards the session's uptime (services/uptime.py: each check
    stands for the HEALTH_CHECK_SECONDS until the next, so a worker that died counts as down), then
    judge the last 24 hours, once an hour of checks is on record."""
    uptime.observe(db, report.session, report.state == "CONNECTED", settings.health_check_seconds)
    up, total = uptime.last_hours(db, report.session, UPTIME_HOURS)
    if total >= UPTIME_MIN_SECONDS and 100 * up < settings.alert_uptime_percent * total:
        hours = min(UPTIME_HOURS, total / 3600)
        report.found("uptime_low", f"the session was CONNECTED {100 * up / total:.1f} % of the last "
                                   f"{hours:.0f} hours (below {settings.alert_uptime_percent:g} %)",
                     uptimePercent=round(100 * up / total, 1), checkedHours=round(total / 3600, 1))


def _check_queue_age(report: HealthReport, db: Session, settings: Settings) -> None:
    now = datetime.now(timezone.utc)
    oldest = oldest_queued(db, report.session).get(report.session)
    if oldest is not None and now - oldest > timedelta(minutes=settings.alert_queue_age_minutes):
        minutes = (now - oldest).total_seconds() / 60
        report.found("queue_stale", f"a message has been waiting in the queue for {minutes:.0f} minutes "
                                    f"(more than {settings.alert_queue_age_minutes})", minutes=round(minutes))


def _check_error_rate(report: HealthReport, db: Session, settings: Settings) -> None:
    """Today's failed share of finished outgoing messages (local day in TIMEZONE), once there are
    ALERT_ERROR_MIN_MESSAGES of them: one failure out of two is no trend."""
    today = stats.overview(db, settings.timezone, report.session)["today"]["byDirection"][Direction.OUTGOING.value]
    failed = today.get(MessageStatus.FAILED.value, 0)
    finished = failed + sum(today.get(s, 0) for s in stats.DONE)
    if finished >= settings.alert_error_min_messages and failed / finished > settings.alert_error_rate:
        report.found("error_rate", f"{failed} of today's {finished} messages failed ({failed / finished:.1%}, "
                                   f"above {settings.alert_error_rate:.1%})", failed=failed, finished=finished)


def free_disk_bytes(directory: str) -> int:
    """Free space on the file system of `directory` (not created yet: its nearest parent's)."""
    path = Path(directory)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def disk_conditions(settings: Settings) -> list[Condition]:
    """Free space on the file system of the browser profiles (media live in PostgreSQL: its disk is
    the database's, watched with the database)."""
    found = []
    for subject, directory in (("tokens", settings.tokens_dir),):
        free = free_disk_bytes(directory)
        metrics.DISK_FREE.labels(subject).set(free)
        free_mb = free // (1024 * 1024)
        if free_mb < settings.alert_disk_free_mb:
            found.append(Condition("disk_low", subject, f"{free_mb} MB free under {directory} "
                                   f"(below {settings.alert_disk_free_mb} MB)", None,
                                   {"free_mb": free_mb, "path": str(directory)}))
    return found


def as_dict(report: HealthReport) -> dict:
    out = asdict(report)
    out.pop("conditions")
    return out


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
