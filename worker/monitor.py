"""The session's two background loops that never touch the driver.

`Monitor` (every HEARTBEAT seconds): takes or refreshes the Redis lock, writes the heartbeat and
is the watchdog - a browser thread stuck in a command or pump longer than the browser timeout gets
its Chromium killed (which unblocks chromedriver; the pump then restarts on the same profile), and
a browser over `browser_memory_limit_mb` is flagged for a restart between commands.

`ControlReader`: BLPOP on `Keys.session_control(session)` so operator commands act within seconds
even while Celery tasks wait on the single-concurrency worker.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import redis

from core.redis import Keys
from worker.browser import kill_processes, profile_processes

if TYPE_CHECKING:
    from worker.session import WhatsAppSession

log = logging.getLogger(__name__)

HEARTBEAT = 3.0


class Monitor:
    def __init__(self, session: "WhatsAppSession"):
        self.session = session
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"wa-monitor-{session.name}", daemon=True)
        self._standby_logged = False

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
        session = self.session
        if not session.owner:
            if session.lock.acquire():
                self._standby_logged = False
                session.promote()
            else:
                if not self._standby_logged:
                    log.warning(
                        "session %s is already driven by worker %s; this worker (%s) stands by and "
                        "takes over when that lock expires", session.name, session.lock.owner(),
                        session.lock.token)
                    self._standby_logged = True
                return
        elif not session.lock.refresh():
            if not session.lock.acquire():  # the key expired and someone else has it
                session.demote()
                return
        session.publisher.update(heartbeat=f"{time.time():.3f}", pid=os.getpid(), worker=session.hostname)
        self.watch()

    def watch(self) -> None:
        session, settings = self.session, self.session.settings
        now = time.monotonic()
        limit = settings.browser_timeout_seconds + 30
        if session.booting:
            limit = settings.browser_timeout_seconds * 3 + 30
        started = [t for t in (session.thread.busy_since, session.pump_started) if t]
        if started and now - min(started) > limit and session.browser.driver is not None:
            log.error("session %s: browser not answering for %.0f s: killing it", session.name,
                      now - min(started))
            session._dead = True
            kill_processes(profile_processes(settings), grace=2)
            return
        if session.browser.alive() and not session.restart_reason:
            rss = session.browser.rss_mb()
            if rss > settings.browser_memory_limit_mb:
                session.restart_reason = (
                    f"browser memory {rss:.0f} MB over the {settings.browser_memory_limit_mb} MB limit")


class ControlReader:
    def __init__(self, session: "WhatsAppSession"):
        self.session = session
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"wa-control-{session.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        key = Keys.session_control(self.session.name)
        while not self._stop.is_set():
            if not self.session.owner:
                self._stop.wait(1)
                continue
            try:
                item = self.session.client.blpop([key], timeout=1)
            except redis.RedisError:
                log.warning("control: Redis unavailable", exc_info=True)
                self._stop.wait(2)
                continue
            if item is not None:
                self.handle(item[1])

    def handle(self, raw: str) -> None:
        session = self.session
        try:
            message = json.loads(raw)
            command, args = message["command"], message.get("args") or {}
        except (ValueError, KeyError, TypeError):
            log.error("control: ignoring malformed command %r", raw)
            return
        log.info("session %s: control command %s %s", session.name, command, args)
        event = {"type": "control", "command": command, "id": message.get("id"), "ok": True}
        try:
            result = session.control(command, **args)
            if result is not None:
                event["result"] = result
        except Exception as exc:  # noqa: BLE001 - reported as an event, the reader goes on
            log.warning("session %s: control %s failed: %s", session.name, command, exc)
            event.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        session.publisher.emit(event)
