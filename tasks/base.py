"""The one Celery Task base class: a database transaction per task, committed at the boundary."""
from __future__ import annotations

from celery import Task, signals

from core.db import db
from core.settings import use_settings


@signals.worker_init.connect
@signals.beat_init.connect
def _serve_the_apps_settings(sender=None, **_kwargs) -> None:
    """Tasks reach PostgreSQL and Redis through the settings the Celery app was built with."""
    use_settings(sender.app.conf.gateway_settings)


class DbTask(Task):
    """Commit when the task returns, roll back when it raises, and always give the session back."""

    abstract = True

    def __call__(self, *args, **kwargs):
        try:
            result = super().__call__(*args, **kwargs)
            db.commit()
            return result
        except BaseException:
            db.rollback()
            raise
        finally:
            db.remove()
