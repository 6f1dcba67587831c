"""`WhatsAppSession`: one linked WhatsApp Web session driven by one Chromium, one per worker process.

Threads: the browser thread (the only one touching Selenium: commands, boot, event pump), the
monitor (heartbeat, lock, watchdog), the control reader (BLPOP on the control list) and the event
dispatcher (Redis pub/sub and in-process listeners). Methods named `_b_*` run on the browser thread.
"""
from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any, Callable

import redis
from selenium.common.exceptions import WebDriverException

from core.redis import Keys, get_redis
from core.settings import Settings, get_settings
from worker import page
from worker.actions import ControlMixin, MessagingMixin
from worker.browser import Browser
from worker.errors import BrowserDied, SessionNotConnected, WhatsAppError
from worker.lock import SessionLock
from worker.machine import StateMachine, phone_of
from worker.monitor import ControlReader, Monitor
from worker.publisher import Listener, Publisher
from worker.states import State
from worker.thread import NORMAL, BrowserThread

log = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between status polls that correct missed events
LOGOUT_RELOAD_AFTER = 15.0  # reload the page if no new QR came this long after a logout
DEAD_MARKERS = ("disconnected", "not reachable", "no such window", "invalid session id",
                "session deleted", "target window already closed", "connection refused", "max retries")


class WhatsAppSession(ControlMixin, MessagingMixin):
    def __init__(self, settings: Settings | None = None, client: redis.Redis | None = None,
                 hostname: str | None = None):
        self.settings = settings or get_settings()
        self.name = self.settings.session_name
        self.client = client or get_redis()
        self.hostname = hostname or socket.gethostname()
        self.publisher = Publisher(self.client, self.name)
        self.machine = StateMachine(self.publisher)
        self.browser = Browser(self.settings)
        self.thread = BrowserThread(f"wa-browser-{self.name}", on_idle=self._pump)
        self.lock = SessionLock(self.client, Keys.session_lock(self.name), hostname=self.hostname)
        self.monitor = Monitor(self)
        self.control_reader = ControlReader(self)
        self.on_ownership: Callable[[bool], None] | None = None  # the Celery glue (un)subscribes the queue
        self.owner = False  # holds the Redis lock: the only worker allowed to drive the session
        self.wanted = True  # should a browser be running (False after `disconnect`)
        self.booting = False
        self.pump_started: float | None = None
        self.restart_reason: str | None = None  # set by the watchdog (memory), acted on when idle
        self._dead = False
        self._failures = 0
        self._retry_at = 0.0
        self._next_status = 0.0
        self._reload_at: float | None = None
        self._script: str | None = None

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> None:
        """Start the threads; the monitor takes the lock and then the browser boots."""
        self.publisher.start()
        self.thread.start()
        self.monitor.start()
        self.control_reader.start()

    def close(self) -> None:
        """Close the browser (profile kept), publish STOPPED and free the session. Idempotent."""
        self.control_reader.stop()
        self.monitor.stop()
        self.thread.stop(final=self._b_shutdown, timeout=self.settings.browser_timeout_seconds)
        try:
            if self.owner:
                self.publisher.update(heartbeat="")
                self.lock.release()
        except redis.RedisError:
            log.warning("cannot release the session lock", exc_info=True)
        self.owner = False
        self.publisher.stop()

    def promote(self) -> None:
        """Called by the monitor once this worker holds the lock."""
        self.owner = True
        self._retry_at = 0.0
        log.info("session %s: this worker (%s) drives it", self.name, self.lock.token)
        if self.on_ownership:
            self.on_ownership(True)

    def demote(self) -> None:
        """The lock was lost (another worker took it): stop driving immediately."""
        self.owner = False
        log.error("session %s: lock lost to %s, closing the browser", self.name, self.lock.owner())
        self.thread.submit(self.browser.destroy, priority=0)
        if self.on_ownership:
            self.on_ownership(False)

    # -- public API -------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    def snapshot(self) -> dict[str, Any]:
        return self.machine.snapshot()

    def add_listener(self, listener: Listener) -> None:
        """`listener(event_dict)` for every event (state, qr, incoming, ack...), on the dispatcher thread."""
        self.publisher.add_listener(listener)

    def run(self, script: str | Callable[[Any], Any], *args: Any, timeout: float | None = None) -> Any:
        """Run JavaScript (`execute_script`) or `callable(driver)` on the browser thread."""
        def command() -> Any:
            driver = self.browser.driver
            if driver is None:
                raise SessionNotConnected(str(self.state), "no browser is running")
            try:
                return script(driver) if callable(script) else driver.execute_script(script, *args)
            except WebDriverException as exc:
                self._note_failure(exc)
                raise
        return self.thread.call(command, timeout or self.settings.browser_timeout_seconds + 5)

    def call_wpp(self, path: str, *args: Any, timeout: float | None = None, connected: bool = True,
                 priority: int = NORMAL) -> Any:
        """`await WPP.<path>(*args)` in the page; WhatsApp's refusals become `WhatsAppError`."""
        if connected and self.state != State.CONNECTED:
            raise SessionNotConnected(str(self.state))
        return self.thread.call(lambda: self._b_call(path, list(args)),
                                timeout or self.settings.browser_timeout_seconds + 5, priority)

    # -- browser thread ---------------------------------------------------------------------
    def _b_call(self, path: str, args: list[Any]) -> Any:
        driver = self.browser.driver
        if driver is None:
            raise SessionNotConnected(str(self.state), "no browser is running")
        try:
            result = driver.execute_async_script(page.CALL, path, args)
        except WebDriverException as exc:
            if self._note_failure(exc):
                raise BrowserDied(str(exc).splitlines()[0]) from exc
            raise
        if not result or not result.get("ok"):
            result = result or {}
            raise WhatsAppError(result.get("code") or "Error", result.get("message") or "no answer")
        return result.get("value")

    def _note_failure(self, exc: Exception) -> bool:
        """Mark the browser dead (the pump restarts it) when `exc` says so; True if dead."""
        text = str(exc).lower()
        if not self.browser.alive() or any(marker in text for marker in DEAD_MARKERS):
            self._dead = True
        return self._dead

    def _b_boot(self) -> None:
        if self.browser.driver is not None or not self.owner:
            return
        self.booting = True
        self.machine.set(State.STARTING)
        try:
            self.browser.create()
            self.browser.driver.get(self.settings.whatsapp_url)
            self._b_inject()
            self._b_sync()
            self._failures, self._dead = 0, False
        except Exception as exc:  # noqa: BLE001 - any failure: clean up, FAILED, retry later
            self._failures += 1
            delay = min(60, 2 ** self._failures)
            log.exception("session %s: browser start failed (retry in %s s)", self.name, delay)
            self.browser.destroy()
            self._retry_at = time.monotonic() + delay
            self.machine.set(State.FAILED, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        finally:
            self.booting = False

    def _b_inject(self) -> None:
        """Inject wa-js if the page lacks it (first load or a reload), wait until ready, hook events."""
        driver, timeout = self.browser.driver, self.settings.browser_timeout_seconds
        if not driver.execute_script(page.HAS_WPP):
            if self._script is None:
                self._script = Path(self.settings.wa_script_path).read_text(encoding="utf-8")
            driver.execute_script(self._script)
            if not driver.execute_script(page.HAS_WPP):  # a script declaring `var WPP` at top level
                driver.execute_script("(0, eval)(arguments[0]);", self._script)
        ready = driver.execute_async_script(page.WAIT_READY)
        deadline = time.monotonic() + timeout
        while not ready and time.monotonic() < deadline:
            time.sleep(0.25)
            ready = driver.execute_script(page.IS_READY)
        if not ready:
            raise RuntimeError(f"WPP did not become ready within {timeout} s")
        driver.execute_script(page.INSTALL, list(page.EVENTS))

    def _b_sync(self) -> None:
        """Read the connection status and correct the state (missed events, reloads)."""
        self._next_status = time.monotonic() + STATUS_EVERY
        status = self.browser.driver.execute_async_script(page.STATUS) or {}
        if status.get("error"):
            log.warning("session %s: status failed: %s", self.name, status["error"])
            return
        machine, state = self.machine, self.machine.state
        if status.get("mainReady"):
            self._reload_at = None
            target = State.DISCONNECTED if status.get("online") is False else State.CONNECTED
            machine.set(target, phone=phone_of(status.get("me")), name=status.get("name") or machine.name)
        elif status.get("authenticated"):
            machine.set(State.STARTING)
        elif state == State.PAIRING_CODE:
            return
        elif status.get("code"):
            self._reload_at = None
            machine.set(State.QR_REQUIRED)
            machine.set_qr(status["code"])
        elif state in (State.CONNECTED, State.DISCONNECTED):
            machine.set(State.LOGGED_OUT)

    def _b_restart(self, reason: str) -> None:
        log.warning("session %s: restarting the browser: %s", self.name, reason)
        self.publisher.emit({"type": "restart", "reason": reason})
        self.browser.destroy()
        self._dead, self.restart_reason = False, None
        self._b_boot()

    def _b_shutdown(self) -> None:
        try:
            self.browser.destroy()
        finally:
            if self.owner:
                self.machine.set(State.STOPPED)

    def _pump(self) -> None:
        """Idle work of the browser thread: (re)boot, restarts, drain page events, status polls."""
        if not self.owner:
            return
        if self.browser.driver is None:
            if self.wanted and time.monotonic() >= self._retry_at:
                self._b_boot()
            return
        self.pump_started = time.monotonic()
        try:
            if self._dead or not self.browser.alive():
                self._b_restart("chromium is gone or not answering")
            elif self.restart_reason and self.thread.pending() == 0:
                self._b_restart(self.restart_reason)
            elif self._reload_at and time.monotonic() >= self._reload_at:
                self._reload_at = None
                self.browser.driver.refresh()
                self._b_inject()
                self._b_sync()
            else:
                self._b_drain()
        except WebDriverException as exc:
            if self._note_failure(exc):
                self._b_restart(f"browser died: {str(exc).splitlines()[0]}")
            else:
                log.warning("session %s: pump error: %s", self.name, str(exc).splitlines()[0])
        finally:
            self.pump_started = None

    def _b_drain(self) -> None:
        result = self.browser.driver.execute_script(page.DRAIN) or {}
        if not result.get("hooked"):
            log.info("session %s: page without hooks (reloaded): injecting again", self.name)
            self._b_inject()
            self._b_sync()
            return
        for event in result.get("events") or []:
            self._b_event(event.get("name", ""), event.get("data") or {})
        if time.monotonic() >= self._next_status:
            self._b_sync()

    def _b_event(self, name: str, data: dict[str, Any]) -> None:
        machine, state, emit = self.machine, self.machine.state, self.publisher.emit
        if name == "conn.auth_code_change":
            if data.get("code") and state not in (State.CONNECTED, State.PAIRING_CODE):
                self._reload_at = None
                machine.set(State.QR_REQUIRED)
            machine.set_qr(data.get("code"))
        elif name == "conn.qrcode_idle":
            machine.set_qr(None)
            emit({"type": "qr_idle"})
        elif name == "conn.authenticated":
            machine.set(State.STARTING)
            emit({"type": "authenticated"})
        elif name == "conn.main_ready":
            self._next_status = 0.0  # synced after the batch: a failed status read here would drop the rest
        elif name == "conn.logout":
            machine.set(State.LOGGED_OUT)
            emit({"type": "logout"})
            self._reload_at = time.monotonic() + LOGOUT_RELOAD_AFTER
            self._next_status = time.monotonic() + 1
        elif name == "conn.require_auth":
            self._next_status = 0.0
        elif name == "conn.online":
            if state == State.CONNECTED and not data.get("online"):
                machine.set(State.DISCONNECTED)
            elif state == State.DISCONNECTED and data.get("online"):
                machine.set(State.CONNECTED)
        elif name == "conn.link_code_change" and data.get("code"):
            machine.set(State.PAIRING_CODE, pairing_code=data["code"])
            emit({"type": "pairing_code", "code": data["code"]})
        elif name in ("conn.link_code_expired", "conn.link_code_error"):
            emit({"type": name.split(".", 1)[1], **data})
        elif name == "chat.new_message" and data.get("message"):
            message = data["message"]
            emit({"type": "outgoing" if message.get("fromMe") else "incoming", "message": message})
        elif name == "chat.msg_ack_change":
            emit({"type": "ack", **data})
