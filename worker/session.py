"""`WhatsAppSession`: one linked WhatsApp Web session driven by one Chromium, one per worker process.

The session only assembles its collaborators and holds the session lock's ownership:

* `lifecycle` (worker/lifecycle.py) owns the browser thread, the only one touching Selenium:
  boot, restarts, the event pump;
* `calls` (worker/calls.py): WhatsApp Web's API through wa-js, for the message pipeline;
* `controls` (worker/controls.py): the operator's commands, read from Redis by `control_reader`;
* `monitor` (worker/monitor.py): lock, heartbeat and watchdog;
* `backups` (worker/backups.py): the encrypted profile backups, and the restore before the first boot;
* `machine` and `publisher`: the state, and what the rest of the system is told (Redis).
"""
from __future__ import annotations

import logging
import socket
from typing import Any, Callable

import redis

from core.redis import Keys, redis_for
from core.settings import Settings
from worker.backups import LINKED, ProfileBackups
from worker.browser import Browser
from worker.calls import WhatsAppCalls
from worker.controls import ControlReader, Controls
from worker.lifecycle import Lifecycle
from worker.lock import SessionLock
from worker.machine import StateMachine
from worker.monitor import Monitor
from worker.publisher import Listener, Publisher
from worker.states import State

log = logging.getLogger(__name__)


class WhatsAppSession:
    def __init__(self, settings: Settings, client: redis.Redis | None = None, hostname: str | None = None):
        self.settings = settings
        self.name = settings.session_name
        self.client = client or redis_for(settings.redis_url)
        self.hostname = hostname or socket.gethostname()
        self.owner = False  # holds the Redis lock: the only worker allowed to drive the session
        self.on_ownership: Callable[[bool], None] | None = None  # the Celery glue (un)subscribes the queue
        self.publisher = Publisher(self.client, self.name)
        self.machine = StateMachine(self.publisher)
        self.browser = Browser(settings)
        self.lifecycle = Lifecycle(settings, self.browser, self.machine, self.publisher, self.is_owner)
        self.calls = WhatsAppCalls(settings, self.browser, self.lifecycle.thread, self.machine)
        self.backups = ProfileBackups(settings, self.lifecycle, self.machine, self.publisher)
        self.lifecycle.prepare_profile = self.backups.restore_missing
        self.controls = Controls(settings, self.lifecycle, self.calls, self.browser, self.machine, self.publisher)
        self.lock = SessionLock(self.client, Keys.session_lock(self.name), hostname=self.hostname)
        self.monitor = Monitor(settings, self.lock, self.publisher, self.browser, self.lifecycle, self.hostname,
                               is_owner=self.is_owner, on_acquired=self.promote, on_lost=self.demote)
        self.control_reader = ControlReader(self.client, self.name, self.is_owner, self.controls.run,
                                            self.publisher.emit)

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> None:
        """Start the threads; the monitor takes the lock and then the browser boots."""
        self.publisher.start()
        self.lifecycle.thread.start()
        self.monitor.start()
        self.control_reader.start()

    def close(self) -> None:
        """Close the browser (profile kept), back up a linked session's profile, publish STOPPED and
        free the session. Idempotent."""
        was_linked = self.owner and self.state in LINKED
        self.control_reader.stop()
        self.monitor.stop()
        self.lifecycle.thread.stop(final=self.lifecycle.shutdown, timeout=self.settings.browser_timeout_seconds)
        if self.owner:  # the files are complete now, and no other worker opens them before the release
            self.backups.after_close(was_linked)
        try:
            if self.owner:
                self.publisher.update(heartbeat="")
                self.lock.release()
        except redis.RedisError:
            log.warning("cannot release the session lock", exc_info=True)
        self.owner = False
        self.publisher.stop()

    # -- ownership of the session lock ------------------------------------------------------
    def is_owner(self) -> bool:
        return self.owner

    def promote(self) -> None:
        """This worker holds the lock (taken at start, or by the monitor): drive the session."""
        self.owner = True
        self.lifecycle.retry_now()
        log.info("session %s: this worker (%s) drives it", self.name, self.lock.token)
        if self.on_ownership:
            self.on_ownership(True)

    def demote(self) -> None:
        """The lock was lost (another worker took it): stop driving immediately."""
        self.owner = False
        log.error("session %s: lock lost to %s, closing the browser", self.name, self.lock.owner())
        self.lifecycle.thread.submit(self.browser.destroy, priority=0)
        if self.on_ownership:
            self.on_ownership(False)

    # -- what the rest of the worker reads --------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    def snapshot(self) -> dict[str, Any]:
        return self.machine.snapshot()

    def add_listener(self, listener: Listener) -> None:
        """`listener(event_dict)` for every event (state, qr, incoming, ack...), on the dispatcher thread."""
        self.publisher.add_listener(listener)
