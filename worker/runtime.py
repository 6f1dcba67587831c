"""The Celery glue: one `WhatsAppSession` per worker process, started when the worker is ready.

A worker starts the session only if it consumes the session's queue (`wa.<session>`), so the same
app can run workers for other queues without a browser. A second worker for a session that is
already driven stands by: it stops consuming the queue (tasks stay for the driving worker), logs
who drives the session, and takes over (re-subscribing the queue) if that worker's lock expires.
"""
from __future__ import annotations

import atexit
import logging

from celery import signals

from core.db import db
from services import dispatch, outbox
from worker.delivery import Courier
from worker.inbox import Inbox
from worker.session import WhatsAppSession

log = logging.getLogger(__name__)

_session: WhatsAppSession | None = None
_courier: Courier | None = None


def get_session() -> WhatsAppSession:
    """The session of this worker process (tasks call its helpers)."""
    if _session is None:
        raise RuntimeError("no WhatsApp session in this process (not a wa.<session> worker?)")
    return _session


def get_courier() -> Courier:
    """The message courier of this worker process (the send, bulk and reconcile tasks use it)."""
    if _courier is None:
        raise RuntimeError("no WhatsApp session in this process (not a wa.<session> worker?)")
    return _courier


def _recover(session_name: str, first_connection: list[bool]) -> None:
    """On every (re)connection: remind the queue of work the rows say is pending. On the first
    one of this process, also restart the bulk chains: their in-flight steps died with the last worker."""
    restart_all_chains = first_connection[0]
    first_connection[0] = False
    try:
        report = outbox.sweep(db, idle_seconds=0, session_name=session_name,
                              chain_idle_seconds=None if restart_all_chains else 3600)
        db.commit()
        log.info("session %s connected: recovery %s", session_name, report)
    except Exception:
        db.rollback()
        log.exception("session %s: recovery after connection failed", session_name)
    finally:
        db.remove()


def _consumed_queues(consumer) -> set[str]:
    return set(consumer.app.amqp.queues.consume_from or consumer.app.amqp.queues)


@signals.worker_ready.connect
def _start_session(sender=None, **_kwargs) -> None:
    global _session, _courier
    consumer = sender
    settings = consumer.app.conf.gateway_settings
    queues = [dispatch.interactive_queue(settings.session_name), dispatch.bulk_queue(settings.session_name)]
    consumed = [q for q in queues if q in _consumed_queues(consumer)]
    if dispatch.interactive_queue(settings.session_name) not in consumed:
        return
    if not logging.getLogger().handlers:  # the app does not hijack the root logger
        logging.basicConfig(level=settings.log_level,
                            format="[%(asctime)s: %(levelname)s/%(threadName)s] %(name)s: %(message)s")
    app, hostname = consumer.app, consumer.hostname
    session = WhatsAppSession(settings, hostname=hostname)

    def on_ownership(owned: bool) -> None:
        # from the monitor thread: go through remote control, handled on the consumer's loop
        for queue in consumed:
            if owned:
                app.control.add_consumer(queue, destination=[hostname])
            else:
                app.control.cancel_consumer(queue, destination=[hostname])

    if session.lock.acquire():
        session.promote()  # before on_ownership is set: the queue is consumed already
    else:
        for queue in consumed:
            consumer.cancel_task_queue(queue)  # we are on the consumer's thread here
    session.on_ownership = on_ownership
    first_connection = [True]
    session.add_listener(Inbox(settings.session_name, session.client,
                               on_connected=lambda: _recover(settings.session_name, first_connection)).handle)
    _courier = Courier(session.calls, settings, session.client)
    _session = session
    session.start()
    atexit.register(_close_session)


@signals.worker_shutdown.connect
def _stop_session(**_kwargs) -> None:
    _close_session()


def _close_session() -> None:
    global _session
    session, _session = _session, None
    if session is not None:
        log.info("closing WhatsApp session %s", session.name)
        session.close()
