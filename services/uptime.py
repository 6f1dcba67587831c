"""Session uptime: the share of the watched time a session was CONNECTED (target > 95 %).

Beat's health check is the watcher: every run adds its interval (HEALTH_CHECK_SECONDS) to the
session's current UTC hour, as connected or not (a session with no live worker is not connected).
A beat that is down watches nothing: that time counts neither way, so the figure says "of the time
observed", never a guess. Hours serve the uptime alert's rolling 24 hours (services/health.py) and
the panel's days in the gateway's TIMEZONE (a zone off by a fraction of an hour from UTC splits
the hour at midnight on the earlier day's side).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import SessionUptimeHourly

TARGET = 0.95


def _this_hour() -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def observe(session: Session, session_name: str, connected: bool, seconds: int) -> None:
    """Add `seconds` of watching to the session's current hour (one upsert per health check)."""
    statement = insert(SessionUptimeHourly).values(session=session_name, hour=_this_hour(), observed_seconds=seconds,
                                                   connected_seconds=seconds if connected else 0)
    session.execute(statement.on_conflict_do_update(
        index_elements=[SessionUptimeHourly.session, SessionUptimeHourly.hour],
        set_={"observed_seconds": SessionUptimeHourly.observed_seconds + statement.excluded.observed_seconds,
              "connected_seconds": SessionUptimeHourly.connected_seconds + statement.excluded.connected_seconds}))


def _since(session: Session, session_name: str, since: datetime) -> tuple[int, int]:
    """(seconds connected, seconds watched) from the hour holding `since` on."""
    connected, observed = session.execute(
        select(func.coalesce(func.sum(SessionUptimeHourly.connected_seconds), 0),
               func.coalesce(func.sum(SessionUptimeHourly.observed_seconds), 0))
        .where(SessionUptimeHourly.session == session_name,
               SessionUptimeHourly.hour >= since.replace(minute=0, second=0, microsecond=0))).one()
    return int(connected), int(observed)


def last_hours(session: Session, session_name: str, hours: int = 24) -> tuple[int, int]:
    """(seconds connected, seconds watched) over the current hour and the `hours` - 1 before it."""
    return _since(session, session_name, _this_hour() - timedelta(hours=hours - 1))


def uptime(session: Session, session_name: str, days: int, tz: str) -> dict:
    """The session's last `days` days (today included, in `tz`): seconds watched, seconds connected
    and their ratio (None before anything was watched)."""
    first_day = datetime.now(ZoneInfo(tz)).date() - timedelta(days=days - 1)
    connected, observed = _since(session, session_name,
                                 datetime.combine(first_day, time(), ZoneInfo(tz)).astimezone(timezone.utc))
    return {"observedSeconds": observed, "connectedSeconds": connected,
            "ratio": connected / observed if observed else None, "target": TARGET}
