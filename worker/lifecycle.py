"""The browser's life on the browser thread: boot, the event pump, restarts, shutdown.

`Lifecycle` owns the browser thread (`BrowserThread`, the only thread touching Selenium) and is its
idle work: (re)boot when wanted, restart a dead or oversized browser, drain the page's events into
the state machine and the publisher, poll the connection status. The methods under "any thread"
only read or set flags; every other one runs on the browser thread.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from selenium.common.exceptions import WebDriverException

from core.settings import Settings
from services.session_state import record_restart
from worker import page
from worker.browser import Browser
from worker.machine import StateMachine, phone_of
from worker.publisher import Publisher
from worker.states import State
from worker.thread import BrowserThread

log = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between status polls that correct missed events
LOGOUT_RELOAD_AFTER = 15.0  # reload the page if no new QR came this long after a logout


class Lifecycle:
    def __init__(self, settings: Settings, browser: Browser, machine: StateMachine, publisher: Publisher,
                 is_owner: Callable[[], bool]):
        self.settings = settings
        self.name = settings.session_name
        self.browser = browser
        self.machine = machine
        self.publisher = publisher
        self.is_owner = is_owner  # only the worker holding the session lock drives a browser
        # runs before every boot, on this thread (worker/backups.py restores a missing profile)
        self.prepare_profile: Callable[[], None] | None = None
        self.thread = BrowserThread(f"wa-browser-{self.name}", on_idle=self.pump,
                                    busy_interval=settings.event_pump_busy_ms / 1000)
        self.wanted = True  # should a browser be running (False after `disconnect`)
        self.booting = False
        self.pump_started: float | None = None
        self.restart_reason: str | None = None  # set by the watchdog (memory), acted on when idle
        self.failures = 0
        self.retry_at = 0.0  # monotonic time of the next boot attempt after a failed one
        self._next_status = 0.0
        self._reload_at: float | None = None
        self._script: str | None = None

    # -- any thread -------------------------------------------------------------------------
    def busy_since(self) -> float | None:
        """Monotonic start of the command or pump pass running now (the watchdog's clock)."""
        started = [t for t in (self.thread.busy_since, self.pump_started) if t]
        return min(started) if started else None

    def request_restart(self, reason: str) -> None:
        """Restart the browser at the next idle moment (no command waiting)."""
        self.restart_reason = reason

    def want(self) -> None:
        """A browser should run: boot at the next pump, without waiting for a failure's backoff."""
        self.wanted = True
        self.retry_now()

    def retry_now(self) -> None:
        """Forget the backoff of a failed boot (the next pump boots if a browser is wanted)."""
        self.retry_at = 0.0

    # -- browser thread ---------------------------------------------------------------------
    def stop_browser(self) -> None:
        """Close the browser and keep it closed (the profile stays) until `want` is called."""
        self.wanted = False
        self.browser.destroy()
        self.machine.set(State.STOPPED)

    def reload_now(self) -> None:
        """Reload the page at the next pump (a logged-out page that shows no new QR)."""
        self._reload_at = time.monotonic()

    def boot(self, fresh: bool = False) -> None:
        """Start Chromium, load WhatsApp Web, inject wa-js, read the state; on failure FAILED and a
        retry with backoff. `fresh` forgets earlier failures (an operator asked for it)."""
        if fresh:
            self.failures = 0
        if self.browser.driver is not None or not self.is_owner():
            return
        self.booting = True
        self.machine.set(State.STARTING)
        try:
            if self.prepare_profile is not None:
                self.prepare_profile()
            self.browser.create()
            self.browser.driver.get(self.settings.whatsapp_url)
            self._inject()
            self._sync()
            self.failures, self.browser.dead = 0, False
        except Exception as exc:  # noqa: BLE001 - any failure: clean up, FAILED, retry later
            self.failures += 1
            delay = min(60, 2 ** self.failures)
            log.exception("session %s: browser start failed (retry in %s s)", self.name, delay)
            self.browser.destroy()
            self.retry_at = time.monotonic() + delay
            self.machine.set(State.FAILED, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        finally:
            self.booting = False

    def _inject(self) -> None:
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

    def _sync(self) -> None:
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
            machine.set(State.QR_REQUIRED, qr=status["code"])
        elif state in (State.CONNECTED, State.DISCONNECTED):
            machine.set(State.LOGGED_OUT)

    def restart(self, reason: str, fresh: bool = False) -> None:
        """Close the browser and boot it again on the same profile (no new scan needed)."""
        if fresh:
            self.failures = 0
        log.warning("session %s: restarting the browser: %s", self.name, reason)
        self.publisher.emit({"type": "restart", "reason": reason})
        record_restart(self.name)
        self.browser.destroy()
        self.browser.dead, self.restart_reason = False, None
        self.boot()

    def shutdown(self) -> None:
        """The worker is stopping: close the browser, and say STOPPED if this worker drove it."""
        try:
            self.browser.destroy()
        finally:
            if self.is_owner():
                self.machine.set(State.STOPPED)

    def pump(self) -> bool:
        """Idle work of the browser thread: (re)boot, restarts, drain page events, status polls.
        True when the page had events (the thread then pumps at its busy pace)."""
        if not self.is_owner():
            return False
        if self.browser.driver is None:
            if self.wanted and time.monotonic() >= self.retry_at:
                self.boot()
            return False
        self.pump_started = time.monotonic()
        try:
            if self.browser.dead or not self.browser.alive():
                self.restart("chromium is gone or not answering")
            elif self.restart_reason and self.thread.idle():
                self.restart(self.restart_reason)
            elif self._reload_at and time.monotonic() >= self._reload_at:
                self._reload_at = None
                self.browser.driver.refresh()
                self._inject()
                self._sync()
            else:
                return self._drain()
        except WebDriverException as exc:
            if self.browser.note_failure(exc):
                self.restart(f"browser died: {str(exc).splitlines()[0]}")
            else:
                log.warning("session %s: pump error: %s", self.name, str(exc).splitlines()[0])
        finally:
            self.pump_started = None
        return False

    def _drain(self) -> bool:
        result = self.browser.driver.execute_script(page.DRAIN) or {}
        if not result.get("hooked"):
            log.info("session %s: page without hooks (reloaded): injecting again", self.name)
            self._inject()
            self._sync()
            return False
        events = result.get("events") or []
        for event in events:
            self._event(event.get("name", ""), event.get("data") or {})
        if time.monotonic() >= self._next_status:
            self._sync()
        return bool(events)

    def _event(self, name: str, data: dict[str, Any]) -> None:
        machine, state, emit = self.machine, self.machine.state, self.publisher.emit
        if name == "conn.auth_code_change":
            if data.get("code") and state not in (State.CONNECTED, State.PAIRING_CODE):
                self._reload_at = None
                machine.set(State.QR_REQUIRED, qr=data["code"])  # state and QR in one write
            else:
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
        elif name == "group.participant_changed":
            emit({"type": "participant_changed", **data})
