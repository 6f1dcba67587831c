"""The page calls: WhatsApp Web's API (wa-js, `WPP.*`) called through the browser thread.

Any thread may call these; each one is a command on the browser thread with a timeout from
settings. `in_page` is the same call for code already running on the browser thread.
"""
from __future__ import annotations

from typing import Any, Callable

from selenium.common.exceptions import WebDriverException

from core.settings import Settings
from worker import page
from worker.browser import Browser
from worker.errors import BrowserDied, LeaseLost, SessionNotConnected, WhatsAppError
from worker.machine import StateMachine
from worker.states import State
from worker.thread import NORMAL, BrowserThread


class WhatsAppCalls:
    def __init__(self, settings: Settings, browser: Browser, thread: BrowserThread, machine: StateMachine,
                 fence: Callable[[], bool] = lambda: True):
        self.settings = settings
        self.fence = fence  # the session's lease: no page call once it may have passed to another worker
        self.browser = browser
        self.thread = thread
        self.machine = machine

    def call_wpp(self, path: str, *args: Any, timeout: float | None = None, connected: bool = True,
                 priority: int = NORMAL) -> Any:
        """`await WPP.<path>(*args)` in the page; WhatsApp's refusals become `WhatsAppError`."""
        self._fenced()
        if connected and self.machine.state != State.CONNECTED:
            raise SessionNotConnected(str(self.machine.state))
        return self.thread.call(lambda: self.in_page(path, list(args)),
                                timeout or self.settings.browser_timeout_seconds + 5, priority)

    def in_page(self, path: str, args: list[Any]) -> Any:
        """`call_wpp` for the browser thread itself (no state check, no queue)."""
        driver = self._driver()
        try:
            result = driver.execute_async_script(page.CALL, path, args)
        except WebDriverException as exc:
            if self.browser.note_failure(exc):
                raise BrowserDied(str(exc).splitlines()[0]) from exc
            raise
        if not result or not result.get("ok"):
            result = result or {}
            raise WhatsAppError(result.get("code") or "Error", result.get("message") or "no answer")
        return result.get("value")

    def run(self, script: str | Callable[[Any], Any], *args: Any, timeout: float | None = None) -> Any:
        """Run JavaScript (`execute_script`) or `callable(driver)` on the browser thread."""
        def command() -> Any:
            driver = self._driver()
            try:
                return script(driver) if callable(script) else driver.execute_script(script, *args)
            except WebDriverException as exc:
                self.browser.note_failure(exc)
                raise
        return self.thread.call(command, timeout or self.settings.browser_timeout_seconds + 5)

    def _fenced(self) -> None:
        if not self.fence():
            raise LeaseLost(f"the lease on session {self.settings.session_name} has run out: another worker "
                            "may drive it now")

    def _driver(self) -> Any:
        """The driver, checked on the browser thread right before it acts: the last moment a lost
        lease can stop a send."""
        self._fenced()
        if self.browser.driver is None:
            raise SessionNotConnected(str(self.machine.state), "no browser is running")
        return self.browser.driver

    # -- the calls of the message pipeline (all need a CONNECTED session) --------------------
    def send_text(self, chat_id: str, text: str, **options: Any) -> dict:
        """-> {id, ack, from, to, ...}; `options` as wa-js (quotedMsg, linkPreview, waitForAck...)."""
        return self.call_wpp("chat.sendTextMessage", chat_id, text, options)

    def get_messages(self, chat_id: str, count: int = 20, **options: Any) -> list[dict]:
        return self.call_wpp("chat.getMessages", chat_id, {"count": count, **options}) or []

    def mark_composing(self, chat_id: str, duration_ms: int) -> None:
        """Start "typing..." in the chat for `duration_ms` (page.HELPERS `compose`; worker/composing.py)."""
        self.call_wpp("__wagw.compose", chat_id, duration_ms)

    def mark_read(self, chat_id: str) -> dict:
        return self.call_wpp("chat.markIsRead", chat_id) or {}

    def query_exists(self, chat_id: str) -> dict | None:
        """None when the number is not on WhatsApp."""
        return self.call_wpp("contact.queryWidExists", chat_id)

    def phone_of_lid(self, lid: str) -> str | None:
        """The phone number (digits) WhatsApp Web knows for `<digits>@lid`, else None: a LID is
        mapped from the page's own cache, which learns it as messages come and go."""
        entry = self.call_wpp("contact.getPnLidEntry", lid, connected=False) or {}
        phone = entry.get("phoneNumber") or ""  # a Wid-like object, flattened to its `_serialized` by page.CALL
        serialized = phone.get("_serialized", "") if isinstance(phone, dict) else str(phone)
        return serialized.split("@", 1)[0] if serialized.endswith("@c.us") else None

    def list_contacts(self) -> list[dict]:
        return self.call_wpp("contact.list") or []
