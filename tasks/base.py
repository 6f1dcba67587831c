"""The one Celery Task base class: a database transaction per task, committed at the boundary."""
from __future__ import annotations

from celery import Task, signals
from sqlalchemy.exc import OperationalError

from core.db import db
from core.settings import use_settings
from worker.errors import NotDriving


@signals.worker_init.connect
@signals.beat_init.connect
def _serve_the_apps_settings(sender=None, **_kwargs) -> None:
    """Tasks reach PostgreSQL and Redis through the settings the Celery app was built with."""
    use_settings(sender.app.conf.gateway_settings)


# The database away (a restart, a failover) must not lose the task: it is published again after a
# short wait, 1, 2, 4 then every 5 s (short countdowns only: DESIGN §1), for about two minutes.
# After that the task gives up and the outbox sweeper re-publishes its work from the rows.
DATABASE_RETRY_MAX_SECONDS = 5
DATABASE_RETRIES = 25
HAND_BACK_SECONDS = 1.0  # a session's task that reached a worker no longer driving it waits this long


class DbTask(Task):
    """Commit when the task returns, roll back when it raises, and always give the session back.
    A task that finds the database away is retried; tasks are idempotent (they re-read their rows),
    so a retry of one that failed halfway redoes only what did not commit. A session's task that
    reached a worker which no longer drives the session (it lost or gave up the lease while the task
    waited in its prefetch) goes back to the queue it came from, for the session's owner."""

    abstract = True

    def __call__(self, *args, **kwargs):
        try:
            result = super().__call__(*args, **kwargs)
            db.commit()
            return result
        except NotDriving:
            db.rollback()
            self._hand_back()
            return "handed back"
        except OperationalError as exc:
            db.rollback()
            countdown = min(DATABASE_RETRY_MAX_SECONDS, 2 ** self.request.retries)
            raise self.retry(exc=exc, countdown=countdown, max_retries=DATABASE_RETRIES) from exc
        except BaseException:
            db.rollback()
            raise
        finally:
            db.remove()

    def _hand_back(self) -> None:
        from services import dispatch

        request = self.request
        queue = (request.delivery_info or {}).get("routing_key")
        dispatch.publish(self.name, list(request.args or ()), queue, countdown=HAND_BACK_SECONDS)
