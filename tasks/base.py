"""The one Celery Task base class: a database transaction per task, committed at the boundary."""
from __future__ import annotations

from celery import Task

from core.db import db, engine_for


class DbTask(Task):
    """Commit when the task returns, roll back when it raises, and always give the session back."""

    abstract = True

    def __call__(self, *args, **kwargs):
        if db.session_factory.kw.get("bind") is None:  # a test (or worker/runtime.py) may have bound it
            db.configure(bind=engine_for(self.app.conf.gateway_settings.database_url))
        try:
            result = super().__call__(*args, **kwargs)
            db.commit()
            return result
        except BaseException:
            db.rollback()
            raise
        finally:
            db.remove()
