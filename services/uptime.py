"""Session uptime: the share of the watched time a session was CONNECTED (target > 95 %).

Beat's health check is the watcher: every run adds its interval (HEALTH_CHECK_SECONDS) to the
session's day, as connected or not (a session with no live worker is not connected). A day is
the gateway's TIMEZONE day, as the statistics count them. A beat that is down watches nothing:
that time counts neither way, so the figure says "of the time observed", never a guess.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import SessionUptimeDaily

TARGET = 0.95


def observe(session: Session, session_name: str, connected: bool, seconds: int, tz: str) -> None:
    """Add `seconds` of watching to today's row of the session (one upsert per health check)."""
    day = datetime.now(ZoneInfo(tz)).date()
    statement = insert(SessionUptimeDaily).values(session=session_name, day=day, observed_seconds=seconds,
                                                  connected_seconds=seconds if connected else 0)
    session.execute(statement.on_conflict_do_update(
        index_elements=[SessionUptimeDaily.session, SessionUptimeDaily.day],
        set_={"observed_seconds": SessionUptimeDaily.observed_seconds + statement.excluded.observed_seconds,
              "connected_seconds": SessionUptimeDaily.connected_seconds + statement.excluded.connected_seconds}))


def uptime(session: Session, session_name: str, days: int, tz: str) -> dict:
    """The session's last `days` days (today included): seconds watched, seconds connected and
    their ratio (None before anything was watched)."""
    since = datetime.now(ZoneInfo(tz)).date() - timedelta(days=days - 1)
    observed, connected = session.execute(
        select(func.coalesce(func.sum(SessionUptimeDaily.observed_seconds), 0),
               func.coalesce(func.sum(SessionUptimeDaily.connected_seconds), 0))
        .where(SessionUptimeDaily.session == session_name, SessionUptimeDaily.day >= since)).one()
    return {"observedSeconds": int(observed), "connectedSeconds": int(connected),
            "ratio": connected / observed if observed else None, "target": TARGET}
