"""The one Celery Task base class: a database transaction per task, committed at the boundary."""
from __future__ import annotations

from celery import Task

from core.db import bind_default_engine, db


class DbTask(Task):
    """Commit when the task returns, roll back when it raises, and always give the session back."""

    abstract = True

    def __call__(self, *args, **kwargs):
        bind_default_engine()
        try:
            result = super().__call__(*args, **kwargs)
            db.commit()
            return result
        except BaseException:
            db.rollback()
            raise
        finally:
            db.remove()
