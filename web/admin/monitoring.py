"""The monitoring page: sends today and in total with their success rate (target > 98 %), the
connection, the session's uptime over the window (target > 95 %, services.uptime), the API's
latency (p95 against 300 ms, from the /metrics histogram: core.metrics.api_latency), the last
days' series and failures by type from the rollups (services.stats, as the API's /stats and
/detailed-stats), the latest errors for who may read /error-stats, and the system: the browser's
memory, the queue, free disk for the browser profiles and the alerts open."""
from __future__ import annotations

from flask import current_app, render_template, request
from sqlalchemy import func, select

from core import metrics
from core.db import db
from models import Alert
from services import connection, error_stats, health, stats, uptime
from web.admin.blueprint import blp, panel_session, visible_sessions
from web.admin.security import panel_page
from web.auth import Capability, allowed, current_principal

WINDOWS = (1, 7, 30, 90)  # days, as the original panel's charts
TARGET_SUCCESS = 0.98
LATEST_ERRORS = 10
TARGET_LATENCY_MS = 300  # the API's p95; the same bound as the panel's own pages


def _days() -> int:
    try:
        days = int(request.args.get("days", "7"))
    except ValueError:
        days = 7
    return days if days in WINDOWS else 7


def _system(status: dict) -> dict:
    settings = current_app.config["SETTINGS"]
    return {"browserMb": status["browserMb"],
            "diskFreeMb": health.free_disk_bytes(settings.tokens_dir) // 2**20,
            "diskAlertMb": settings.alert_disk_free_mb,
            "openAlerts": db.scalar(select(func.count()).select_from(Alert).where(Alert.resolved_at.is_(None)))}


def _figures(session: str, days: int) -> dict:
    tz = current_app.config["SETTINGS"].timezone
    detailed = stats.daily(db, days, tz, session)
    peak = max([d["outgoing"] + d["incoming"] for d in detailed["perDay"]] or [0])
    may_read_errors = allowed(current_principal().role, Capability.MANAGE)
    status = connection.status(session)
    return {"overview": stats.overview(db, tz, session), "detailed": detailed, "peak": peak or 1,
            "status": status, "target": TARGET_SUCCESS, "days": days,
            "uptime": uptime.uptime(db, session, days, tz), "latency": metrics.api_latency(),
            "target_latency": TARGET_LATENCY_MS, "system": _system(status),
            "errors": error_stats.recent_failures(db, session, LATEST_ERRORS) if may_read_errors else None}


@blp.route("/monitoring", methods=["GET"])
@panel_page(Capability.VIEW)
def monitoring_page():
    session = panel_session()
    days = _days()
    return render_template("admin/monitoring.html", session=session, sessions=visible_sessions(),
                           windows=WINDOWS, **_figures(session, days))


@blp.route("/monitoring/figures", methods=["GET"])
@panel_page(Capability.VIEW)
def monitoring_figures():
    """The live part of the monitoring page, polled."""
    session = panel_session()
    return render_template("admin/_monitoring.html", session=session, **_figures(session, _days()))
