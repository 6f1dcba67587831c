"""What callers ask of a session: control commands (from Redis) and WhatsApp calls (from tasks).

Each is a thin call through the browser thread with a timeout from settings. Control commands
run at a higher priority than message tasks, so they take effect while a bulk send is queued.
"""
from __future__ import annotations

import logging
import shutil
import time
from typing import TYPE_CHECKING, Any

from worker.errors import SessionError, SessionNotConnected, WhatsAppError
from worker.states import State
from worker.thread import CONTROL

if TYPE_CHECKING:
    from worker.session import WhatsAppSession

log = logging.getLogger(__name__)

COMMANDS = ("initialize", "disconnect", "reconnect", "logout", "pairing_code")


class ControlMixin:
    def control(self: "WhatsAppSession", command: str, **args: Any) -> Any:
        """Run one control command (as read from `Keys.session_control`) and wait for it."""
        if command not in COMMANDS:
            raise ValueError(f"unknown control command {command!r}")
        if command == "pairing_code":
            return self.request_pairing_code(str(args.get("phoneNumber") or args.get("phone") or ""))
        handler = getattr(self, f"_b_{command}")
        # booting may take two page loads' worth of time
        return self.thread.call(handler, self.settings.browser_timeout_seconds * 3, priority=CONTROL)

    def initialize(self: "WhatsAppSession") -> None:
        self.control("initialize")

    def disconnect(self: "WhatsAppSession") -> None:
        self.control("disconnect")

    def reconnect(self: "WhatsAppSession") -> None:
        self.control("reconnect")

    def logout(self: "WhatsAppSession") -> None:
        self.control("logout")

    def request_pairing_code(self: "WhatsAppSession", phone: str) -> str:
        """Link by 8-character code instead of QR (wa-js's managed flow, else the raw call)."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not digits:
            raise ValueError("pairing_code needs phoneNumber (digits, international format)")
        return self.thread.call(lambda: self._b_pairing_code(digits),
                                self.settings.browser_timeout_seconds + 5, priority=CONTROL)

    # -- on the browser thread --------------------------------------------------------------
    def _b_initialize(self: "WhatsAppSession") -> None:
        """Start the browser if stopped; reload a page stuck without a QR (idle, failed, logged out)."""
        self.wanted, self._retry_at = True, 0.0
        if self.browser.driver is None:
            self._failures = 0
            self._b_boot()
        elif self.state == State.QR_REQUIRED and not self.machine.qr:
            self._b_call("conn.refreshQR", [])  # the QR went idle: start a new round
        elif self.state == State.LOGGED_OUT:
            self._reload_at = time.monotonic()

    def _b_disconnect(self: "WhatsAppSession") -> None:
        """Close the browser, keep the profile (a later initialize comes back without a scan)."""
        self.wanted = False
        self.browser.destroy()
        self.machine.set(State.STOPPED)

    def _b_reconnect(self: "WhatsAppSession") -> None:
        self.wanted, self._failures = True, 0
        self._b_restart("reconnect requested")

    def _b_logout(self: "WhatsAppSession") -> None:
        """Unlink the device, wipe tokens/<session>/ and start again on a fresh QR."""
        if self.browser.driver is not None:
            try:
                self._b_call("conn.logout", [])
            except Exception as exc:  # noqa: BLE001 - wiping the profile unlinks us anyway
                log.warning("session %s: WPP.conn.logout failed: %s", self.name, exc)
        self.browser.destroy()
        shutil.rmtree(self.settings.session_profile_dir, ignore_errors=True)
        self.machine.set(State.LOGGED_OUT)
        self.publisher.emit({"type": "logout", "by": "command"})
        self.wanted, self._failures, self._retry_at = True, 0, 0.0
        self._b_boot()

    def _b_pairing_code(self: "WhatsAppSession", phone: str) -> str:
        if self.browser.driver is None:
            raise SessionNotConnected(str(self.state), "no browser is running")
        if self.state in (State.CONNECTED, State.DISCONNECTED):
            raise SessionError("the session is already linked")
        try:
            code = self._b_call("conn.startLinkDeviceCodeForPhoneNumber", [phone])
        except WhatsAppError as exc:
            if "not a function" not in exc.message:
                raise
            code = self._b_call("conn.genLinkDeviceCodeForPhoneNumber", [{"phone": phone}])
        self.machine.set(State.PAIRING_CODE, pairing_code=code)
        self.publisher.emit({"type": "pairing_code", "code": code})
        return code


class MessagingMixin:
    """WhatsApp calls for the message pipeline. All need a CONNECTED session."""

    def send_text(self: "WhatsAppSession", chat_id: str, text: str, **options: Any) -> dict:
        """-> {id, ack, from, to, ...}; `options` as wa-js (quotedMsg, linkPreview, waitForAck...)."""
        return self.call_wpp("chat.sendTextMessage", chat_id, text, options)

    def send_file(self: "WhatsAppSession", chat_id: str, data: str, *, type: str = "auto-detect",
                  caption: str | None = None, filename: str | None = None,
                  mimetype: str | None = None) -> dict:
        """`data` is a data URL or base64 string (wa-js `sendFileMessage`)."""
        options = {"type": type, "caption": caption, "filename": filename, "mimetype": mimetype}
        return self.call_wpp("chat.sendFileMessage", chat_id, data,
                             {k: v for k, v in options.items() if v is not None})

    def get_messages(self: "WhatsAppSession", chat_id: str, count: int = 20, **options: Any) -> list[dict]:
        return self.call_wpp("chat.getMessages", chat_id, {"count": count, **options}) or []

    def mark_read(self: "WhatsAppSession", chat_id: str) -> dict:
        return self.call_wpp("chat.markIsRead", chat_id) or {}

    def download_media(self: "WhatsAppSession", message_id: str) -> str:
        """The media of a message as a data URL (`data:<mimetype>;base64,...`)."""
        return self.call_wpp("chat.downloadMedia", message_id)

    def query_exists(self: "WhatsAppSession", chat_id: str) -> dict | None:
        """None when the number is not on WhatsApp."""
        return self.call_wpp("contact.queryWidExists", chat_id)

    def list_contacts(self: "WhatsAppSession") -> list[dict]:
        return self.call_wpp("contact.list") or []
