"""Periodic jobs about the session's health: the health check and the daily error-count reset."""
from __future__ import annotations

from core.db import db
from core.settings import current_settings
from services import error_stats, health, sessions
from tasks.periodic import locked_task


@locked_task("tasks.health.check_session", lock_seconds=120)
def check_session() -> dict[str, dict]:
    """For every active session: restart it through its worker when failed or stuck; alert on
    anything else wrong. -> each session's report, by name."""
    settings = current_settings()
    return {row.name: health.as_dict(health.check(row.name, stuck_seconds=settings.health_stuck_seconds,
                                                             store=db))
            for row in sessions.list_sessions(db, settings, active=True)}


@locked_task("tasks.health.reset_error_counts", lock_seconds=600)
def reset_error_counts() -> int:
    """Zero every session's per-type failure counters (daily, at ERROR_RESET_TIME local time)."""
    return error_stats.reset(db)
