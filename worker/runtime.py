"""The Celery glue: a WhatsApp worker claims a session when it is ready and gives it up when it stops.

A worker consuming `wa.claim` claims any active session; one consuming `wa.<name>` serves that
session only (worker/claims.py). Other workers of the same app (the `default` queue's jobs) have no
browser. The session's tasks reach it through `driving_session()` and `driving_courier()`, which
raise `NotDriving` when this worker does not (or no longer) drive a session: the task base class
(tasks/base.py) then hands the task back to its queue for the session's owner.
"""
from __future__ import annotations

import atexit
import logging

from celery import signals

from core.redis import redis_for
from services import dispatch
from worker.claims import CLAIM_QUEUE, Claimer, pinned_session
from worker.delivery import Courier
from worker.errors import NotDriving
from worker.session import WhatsAppSession

log = logging.getLogger(__name__)

_claimer: Claimer | None = None


def driving_session() -> WhatsAppSession:
    """The session this worker drives now (owner, lease held)."""
    session = _claimer.driving() if _claimer else None
    if session is None:
        raise NotDriving("this worker drives no WhatsApp session now")
    return session


def driving_courier() -> Courier:
    """The message courier of the session this worker drives now."""
    courier = _claimer.courier if _claimer else None
    if courier is None or _claimer.driving() is None:
        raise NotDriving("this worker drives no WhatsApp session now")
    return courier


def _consumed_queues(consumer) -> set[str]:
    return set(consumer.app.amqp.queues.consume_from or consumer.app.amqp.queues)


@signals.worker_ready.connect
def _start_claiming(sender=None, **_kwargs) -> None:
    global _claimer
    consumer = sender
    settings = consumer.app.conf.gateway_settings
    consumed = _consumed_queues(consumer)
    pinned = pinned_session(consumed)
    if CLAIM_QUEUE not in consumed and pinned is None:
        return  # not a WhatsApp worker
    if pinned:  # consumed again once the session is claimed (we are on the consumer's thread here)
        for queue in (dispatch.interactive_queue(pinned), dispatch.bulk_queue(pinned)):
            if queue in consumed:
                consumer.cancel_task_queue(queue)
    _claimer = Claimer(consumer.app, consumer.hostname, settings, redis_for(settings.redis_url), pinned=pinned)
    _claimer.start()
    atexit.register(_stop_claiming)


@signals.worker_shutdown.connect
def _stop_claiming(**_kwargs) -> None:
    global _claimer
    claimer, _claimer = _claimer, None
    if claimer is not None:
        claimer.stop()
