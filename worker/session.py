"""`WhatsAppSession`: one linked WhatsApp Web session driven by one Chromium, one per worker process.

The session only assembles its collaborators and holds the session lock's ownership:

* `lifecycle` (worker/lifecycle.py) owns the browser thread, the only one touching Selenium:
  boot, restarts, the event pump;
* `calls` (worker/calls.py): WhatsApp Web's API through wa-js, for the message pipeline;
* `controls` (worker/controls.py): the operator's commands, read from Redis by `control_reader`;
* `monitor` (worker/monitor.py): lease refresh, heartbeat and watchdog;
* `backups` (worker/backups.py): the encrypted profile backups, and the restore before the first boot;
* `machine` and `publisher`: the state, and what the rest of the system is told (Redis).
"""
from __future__ import annotations

import logging
import socket
from typing import Any, Callable

import redis

from core import logs
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
    def __init__(self, settings: Settings, client: redis.Redis | None = None, hostname: str | None = None,
                 lock: SessionLock | None = None):
        self.settings = settings
        self.name = settings.session_name
        self.client = client or redis_for(settings.redis_url)
        self.hostname = hostname or socket.gethostname()
        self.owner = False  # claimed the lease (worker/claims.py): the only worker allowed to drive the session
        self.on_lost: Callable[[], None] | None = None  # the claimer: give the session up
        self.publisher = Publisher(self.client, self.name)
        self.machine = StateMachine(self.publisher)
        self.browser = Browser(settings)
        self.lifecycle = Lifecycle(settings, self.browser, self.machine, self.publisher, self.is_owner)
        self.calls = WhatsAppCalls(settings, self.browser, self.lifecycle.thread, self.machine, fence=self.is_owner)
        self.backups = ProfileBackups(settings, self.lifecycle, self.machine, self.publisher)
        self.lifecycle.prepare_profile = self.backups.restore_missing
        self.controls = Controls(settings, self.lifecycle, self.calls, self.browser, self.machine, self.publisher)
        self.lock = lock or SessionLock(self.client, Keys.session_lock(self.name), ttl=settings.session_lease_seconds,
                                        hostname=self.hostname)
        self.monitor = Monitor(settings, self.lock, self.publisher, self.browser, self.lifecycle, self.hostname,
                               claimed=lambda: self.owner, on_lost=self.demote)
        self.control_reader = ControlReader(self.client, self.name, self.is_owner, self.controls.run,
                                            self.publisher.emit)

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> None:
        """Drive the session: the caller has just taken its lease (`lock.acquire()`). The browser
        boots on its thread; the monitor keeps the lease."""
        self.owner = True
        logs.bind_process(session=self.name)
        log.info("session %s: this worker (%s) drives it", self.name, self.lock.token)
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
        logs.bind_process(session=None)

    # -- the lease ------------------------------------------------------------------------
    def is_owner(self) -> bool:
        """May this worker act on the session now: claimed, and the lease not run out on our clock
        (the fence every page call, boot and control command checks; see worker/lock.py)."""
        return self.owner and self.lock.held()

    def demote(self) -> None:
        """The lease was lost (another worker took it): stop driving immediately."""
        self.owner = False
        log.error("session %s: lease lost to %s, closing the browser", self.name, self.lock.owner())
        self.lifecycle.thread.submit(self.browser.destroy, priority=0)
        if self.on_lost:
            self.on_lost()

    # -- what the rest of the worker reads --------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    def snapshot(self) -> dict[str, Any]:
        return self.machine.snapshot()

    def add_listener(self, listener: Listener) -> None:
        """`listener(event_dict)` for every event (state, qr, incoming, ack...), on the dispatcher thread."""
        self.publisher.add_listener(listener)
