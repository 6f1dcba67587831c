"""The session's monitor: a background loop that never touches the driver.

Every HEARTBEAT seconds it refreshes the session's lease (calling `on_lost` when another worker has
it), writes the heartbeat, and is the watchdog - a browser thread stuck in a command or pump longer than
the browser timeout gets its Chromium killed (which unblocks chromedriver; the pump then restarts
on the same profile), and a browser over `browser_memory_limit_mb` is flagged for a restart
between commands.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import redis

from core.settings import HEARTBEAT_SECONDS, Settings
from worker.browser import Browser, kill_processes, profile_processes
from worker.lifecycle import Lifecycle
from worker.lock import SessionLock
from worker.publisher import Publisher

log = logging.getLogger(__name__)

HEARTBEAT = float(HEARTBEAT_SECONDS)


class Monitor:
    def __init__(self, settings: Settings, lock: SessionLock, publisher: Publisher, browser: Browser,
                 lifecycle: Lifecycle, hostname: str, *, claimed: Callable[[], bool],
                 on_lost: Callable[[], None]):
        self.settings = settings
        self.name = settings.session_name
        self.lock = lock
        self.publisher = publisher
        self.browser = browser
        self.lifecycle = lifecycle
        self.hostname = hostname
        self.claimed = claimed
        self.on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"wa-monitor-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT * 2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except redis.RedisError:
                log.warning("monitor: Redis unavailable", exc_info=True)
            except Exception:  # noqa: BLE001 - the watchdog must outlive any surprise
                log.exception("monitor failed")
            self._stop.wait(HEARTBEAT)

    def tick(self) -> None:
        if not self.claimed():
            return
        # Refreshed even after our own clock ran out (a freeze): if nobody took the key meanwhile,
        # the session is still ours and `held()` is true again.
        if not self.lock.refresh():
            self.on_lost()
            return
        # the browser's memory rides on the heartbeat: /metrics reads it from Redis (core/metrics.py)
        memory = self.browser.rss_mb() if self.browser.alive() else None
        self.publisher.update(heartbeat=f"{time.time():.3f}", pid=os.getpid(), worker=self.hostname,
                              browser_mb=None if memory is None else f"{memory:.1f}")
        self.watch(memory)

    def watch(self, rss: float | None = None) -> None:
        settings, lifecycle, browser = self.settings, self.lifecycle, self.browser
        now = time.monotonic()
        limit = settings.browser_timeout_seconds + 30
        if lifecycle.booting:
            limit = settings.browser_timeout_seconds * 3 + 30
        started = lifecycle.busy_since()
        if started and now - started > limit and browser.driver is not None:
            log.error("session %s: browser not answering for %.0f s: killing it", self.name, now - started)
            browser.dead = True
            kill_processes(profile_processes(settings), grace=2)
            return
        if rss is not None and not lifecycle.restart_reason:
            if rss > settings.browser_memory_limit_mb:
                lifecycle.request_restart(
                    f"browser memory {rss:.0f} MB over the {settings.browser_memory_limit_mb} MB limit")
