"""Periodic jobs about the sessions' health: the health check (and its alerts) and the daily
error-count reset."""
from __future__ import annotations

from core.db import db
from core.settings import current_settings
from services import alerts, error_stats, health, runtime_settings, sessions
from tasks.periodic import locked_task


@locked_task("tasks.health.check_session", lock_seconds=120)
def check_session() -> dict[str, dict]:
    """For every active session: restart it through its worker when failed or stuck; count the
    interval towards its uptime (services/uptime.py, in the check); then record what is wrong anywhere as alerts
    (services/alerts.py), resolving those that cleared.
    -> each session's report, by name."""
    settings = runtime_settings.effective(db, current_settings())  # thresholds changed at /api/settings
    reports = {row.name: health.check(row.name, settings, db)
               for row in sessions.list_sessions(db, settings, active=True)}
    found = [condition for report in reports.values() for condition in report.conditions]
    alerts.record(db, found + health.disk_conditions(settings))
    return {name: health.as_dict(report) for name, report in reports.items()}


@locked_task("tasks.health.reset_error_counts", lock_seconds=600)
def reset_error_counts() -> int:
    """Zero every session's per-type failure counters (daily, at ERROR_RESET_TIME local time)."""
    return error_stats.reset(db)
