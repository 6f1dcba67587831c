"""The control commands an operator sends a session (initialize, disconnect, reconnect, logout,
pairing_code), and the reader that takes them from Redis.

Each command runs on the browser thread at a higher priority than message tasks, so it takes
effect while a bulk send is queued. `ControlReader` BLPOPs `Keys.session_control(session)` on its
own thread, so commands act within seconds even while Celery tasks wait on the single-concurrency
worker, and answers each with a `control` event.
"""
from __future__ import annotations

import json
import logging
import shutil
import threading
from typing import Any, Callable

import redis

from core.redis import Keys
from core.settings import Settings
from worker.browser import Browser
from worker.calls import WhatsAppCalls
from worker.errors import SessionError, SessionNotConnected, WhatsAppError
from worker.lifecycle import Lifecycle
from worker.machine import StateMachine
from worker.publisher import Publisher
from worker.states import State
from worker.thread import CONTROL

log = logging.getLogger(__name__)

COMMANDS = ("initialize", "disconnect", "reconnect", "logout", "pairing_code")


class Controls:
    def __init__(self, settings: Settings, lifecycle: Lifecycle, calls: WhatsAppCalls, browser: Browser,
                 machine: StateMachine, publisher: Publisher):
        self.settings = settings
        self.lifecycle = lifecycle
        self.calls = calls
        self.browser = browser
        self.machine = machine
        self.publisher = publisher
        # the commands without arguments, each run on the browser thread
        self._on_browser_thread: dict[str, Callable[[], None]] = {
            "initialize": self._initialize, "disconnect": self.lifecycle.stop_browser,
            "reconnect": self._reconnect, "logout": self._logout,
        }

    def run(self, command: str, **args: Any) -> Any:
        """Run one control command (as read from `Keys.session_control`) and wait for it."""
        if command not in COMMANDS:
            raise ValueError(f"unknown control command {command!r}")
        if command == "pairing_code":
            return self.request_pairing_code(str(args.get("phoneNumber") or args.get("phone") or ""))
        # booting may take two page loads' worth of time
        return self.lifecycle.thread.call(self._on_browser_thread[command],
                                          self.settings.browser_timeout_seconds * 3, priority=CONTROL)

    def request_pairing_code(self, phone: str) -> str:
        """Link by 8-character code instead of QR (wa-js's managed flow, else the raw call)."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not digits:
            raise ValueError("pairing_code needs phoneNumber (digits, international format)")
        return self.lifecycle.thread.call(lambda: self._pairing_code(digits),
                                          self.settings.browser_timeout_seconds + 5, priority=CONTROL)

    # -- on the browser thread --------------------------------------------------------------
    def _initialize(self) -> None:
        """Start the browser if stopped; reload a page stuck without a QR (idle, failed, logged out)."""
        self.lifecycle.want()
        if self.browser.driver is None:
            self.lifecycle.boot(fresh=True)
        elif self.machine.state == State.QR_REQUIRED and not self.machine.qr:
            self.calls.in_page("conn.refreshQR", [])  # the QR went idle: start a new round
        elif self.machine.state == State.LOGGED_OUT:
            self.lifecycle.reload_now()

    def _reconnect(self) -> None:
        self.lifecycle.want()
        self.lifecycle.restart("reconnect requested", fresh=True)

    def _logout(self) -> None:
        """Unlink the device, wipe tokens/<session>/ and start again on a fresh QR."""
        if self.browser.driver is not None:
            try:
                self.calls.in_page("conn.logout", [])
            except Exception as exc:  # noqa: BLE001 - wiping the profile unlinks us anyway
                log.warning("session %s: WPP.conn.logout failed: %s", self.settings.session_name, exc)
        self.browser.destroy()
        shutil.rmtree(self.settings.session_profile_dir, ignore_errors=True)
        self.machine.set(State.LOGGED_OUT)
        self.publisher.emit({"type": "logout", "by": "command"})
        self.lifecycle.want()
        self.lifecycle.boot(fresh=True)

    def _pairing_code(self, phone: str) -> str:
        if self.browser.driver is None:
            raise SessionNotConnected(str(self.machine.state), "no browser is running")
        if self.machine.state in (State.CONNECTED, State.DISCONNECTED):
            raise SessionError("the session is already linked")
        try:
            code = self.calls.in_page("conn.startLinkDeviceCodeForPhoneNumber", [phone])
        except WhatsAppError as exc:
            if "not a function" not in exc.message:
                raise
            code = self.calls.in_page("conn.genLinkDeviceCodeForPhoneNumber", [{"phone": phone}])
        self.machine.set(State.PAIRING_CODE, pairing_code=code)
        self.publisher.emit({"type": "pairing_code", "code": code})
        return code


class ControlReader:
    """BLPOP on the session's control list while this worker drives the session."""

    def __init__(self, client: redis.Redis, session_name: str, is_owner: Callable[[], bool],
                 run: Callable[..., Any], emit: Callable[[dict[str, Any]], None]):
        self.client = client
        self.session_name = session_name
        self.is_owner = is_owner
        self.run = run
        self.emit = emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"wa-control-{session_name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        key = Keys.session_control(self.session_name)
        while not self._stop.is_set():
            if not self.is_owner():
                self._stop.wait(1)
                continue
            try:
                item = self.client.blpop([key], timeout=1)
            except redis.RedisError:
                log.warning("control: Redis unavailable", exc_info=True)
                self._stop.wait(2)
                continue
            if item is not None:
                self.handle(item[1])

    def handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
            command, args = message["command"], message.get("args") or {}
        except (ValueError, KeyError, TypeError):
            log.error("control: ignoring malformed command %r", raw)
            return
        log.info("session %s: control command %s %s", self.session_name, command, args)
        event = {"type": "control", "command": command, "id": message.get("id"), "ok": True}
        try:
            result = self.run(command, **args)
            if result is not None:
                event["result"] = result
        except Exception as exc:  # noqa: BLE001 - reported as an event, the reader goes on
            log.warning("session %s: control %s failed: %s", self.session_name, command, exc)
            event.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        self.emit(event)
