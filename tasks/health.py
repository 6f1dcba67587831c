"""Periodic jobs about the session's health: the health check and the daily error-count reset."""
from __future__ import annotations

from core.db import db
from core.settings import current_settings
from services import error_stats, health
from tasks.periodic import locked_task


@locked_task("tasks.health.check_session", lock_seconds=120)
def check_session() -> dict:
    """Restart a failed or stuck session through its worker; alert on anything else wrong."""
    settings = current_settings()
    return health.as_dict(health.check(settings.session_name, stuck_seconds=settings.health_stuck_seconds))


@locked_task("tasks.health.reset_error_counts", lock_seconds=600)
def reset_error_counts() -> int:
    """Zero the per-type failure counters (daily, at ERROR_RESET_TIME local time)."""
    return error_stats.reset(db)
