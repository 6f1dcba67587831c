"""The beat side of scheduled messages: send what is due (see services/scheduling.py)."""
from __future__ import annotations

from dataclasses import asdict

from core.db import db
from core.settings import current_settings
from services import scheduling
from tasks.periodic import locked_task


@locked_task("tasks.scheduling.dispatch_due", lock_seconds=300)
def dispatch_due() -> dict:
    settings = current_settings()
    report = scheduling.dispatch_due(db, grace_seconds=settings.schedule_grace_seconds,
                                     country=settings.default_country)
    return asdict(report)
