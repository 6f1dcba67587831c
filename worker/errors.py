"""Typed failures of the WhatsApp session, so the message pipeline can classify them.

`SessionNotConnected` and `BrowserTimeout` are transient (retry later); `WhatsAppError` carries the
code WhatsApp Web (wa-js) gave, which the pipeline maps to NOT_WHATSAPP, RATE_LIMIT, BLOCKED...
"""
from __future__ import annotations


class SessionError(RuntimeError):
    """Base class of every failure raised by `WhatsAppSession`."""


class SessionNotConnected(SessionError):
    """The session is not CONNECTED (QR pending, browser restarting, stopped): retry later."""

    def __init__(self, state: str, message: str | None = None):
        super().__init__(message or f"session is not connected (state {state})")
        self.state = state


class LeaseLost(SessionError):
    """This worker's lease on the session ran out (frozen, partitioned) or another worker took it:
    it must not act on WhatsApp any more. Whatever it was doing is left to the session's owner."""


class NotDriving(SessionError):
    """A task of a session reached a worker that does not drive that session (it lost or gave up
    the lease while the task waited in its prefetch): the task goes back to the session's queue."""


class BrowserTimeout(SessionError):
    """The browser thread did not answer in time; the watchdog restarts a browser that hangs."""


class BrowserDied(SessionError):
    """Chromium or chromedriver went away while running a command; the session restarts it."""


class WhatsAppError(SessionError):
    """WhatsApp Web rejected a call. `code` is wa-js's WPPError code (or the JS error name)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
