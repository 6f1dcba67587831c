"""Runtime settings: the tunables an operator changes without a restart (GET/PATCH /api/settings).

The environment's values stay the defaults; a row in `runtime_settings` overrides one until it is
reset. Only the names in TUNABLE can be stored (pacing, retries, alert thresholds), never a secret or a
connection string. A value is validated by the same `Settings.check()` that validates the
environment, so the table can never hold what the environment would refuse.

Who reads them, and how soon: the session's pacers (sends and existence checks) re-read their caps
every 10 s (worker/pacer.py), the courier reads the retry limits at each failed try
(worker/delivery.py), beat's health check on each run (tasks/health.py).
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import GatewayError
from core.settings import Settings, SettingsError
from models import RuntimeSetting

log = logging.getLogger(__name__)

TUNABLE = ("send_min_interval_ms", "send_jitter_ms", "send_max_per_second", "send_max_per_hour", "send_max_per_day",
           "send_max_attempts", "send_max_age_minutes", "retry_base_seconds", "retry_max_seconds", "check_min_interval_ms",
           "alert_error_rate", "alert_error_min_messages", "alert_disconnected_minutes", "alert_queue_age_minutes",
           "alert_disk_free_mb", "alert_browser_restarts_per_hour", "alert_uptime_percent",
           "bulk_new_numbers_warn_percent")


def _rows(session: Session) -> list[RuntimeSetting]:
    return list(session.scalars(select(RuntimeSetting).where(RuntimeSetting.name.in_(TUNABLE))))


def effective(session: Session, settings: Settings) -> Settings:
    """`settings` with the stored overrides applied (the settings themselves if none, or if the
    stored ones no longer pass the checks: the environment changed under them)."""
    overrides = {row.name: row.value for row in _rows(session)}
    if not overrides:
        return settings
    try:
        return dataclasses.replace(settings, **overrides).check()
    except (SettingsError, TypeError) as exc:
        log.warning("runtime settings ignored, they fail the checks: %s", exc)
        return settings


def listing(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every tunable: the value in force, the environment's default, and who changed it when."""
    rows = {row.name: row for row in _rows(session)}
    now = effective(session, settings)
    return [{"name": name.upper(), "value": getattr(now, name), "default": getattr(settings, name),
             "overridden": name in rows, "updatedAt": rows[name].updated_at if name in rows else None,
             "updatedBy": rows[name].updated_by if name in rows else None} for name in TUNABLE]


def update(session: Session, settings: Settings, changes: dict[str, Any], *, by: str | None) -> dict[str, dict]:
    """Apply `changes` ({name: value, or None to go back to the environment's}) in the caller's
    transaction; 422 naming the setting when the result would be invalid.
    -> {NAME: {"previous": value before, "value": value now}} for the audit row."""
    before = effective(session, settings)
    names = {name.lower(): value for name, value in changes.items()}
    unknown = sorted(name.upper() for name in names if name not in TUNABLE)
    if unknown:
        raise GatewayError(422, f"not a runtime setting: {', '.join(unknown)}",
                           details={"json": {name: ["not a runtime setting"] for name in unknown}})
    after_values = {name: getattr(settings, name) if value is None else value for name, value in names.items()}
    try:
        dataclasses.replace(before, **after_values).check()
    except SettingsError as exc:
        raise GatewayError(422, str(exc), details={"json": {str(exc).split(" ", 1)[0]: [str(exc)]}}) from None
    stamp = datetime.now(timezone.utc)
    for name, value in names.items():
        if value is None:
            session.execute(delete(RuntimeSetting).where(RuntimeSetting.name == name))
        else:
            session.execute(insert(RuntimeSetting).values(name=name, value=value, updated_at=stamp, updated_by=by)
                            .on_conflict_do_update(index_elements=["name"],
                                                   set_={"value": value, "updated_at": stamp, "updated_by": by}))
    return {name.upper(): {"previous": getattr(before, name), "value": after_values[name]} for name in names}
