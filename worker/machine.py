"""The session's state and what it publishes when it changes.

Only the browser thread changes the state; other threads read `snapshot()`. Each state carries the
time it was entered (`since`), which the API shows ("QR_REQUIRED for 3 minutes").
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from worker.publisher import Publisher
from worker.states import State

QR_STATES = (State.QR_REQUIRED, State.PAIRING_CODE)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def phone_of(wid: str | None) -> str:
    """'393331234567@c.us' -> '393331234567' (devices may add ':12' before the '@')."""
    if not wid:
        return ""
    return wid.split("@", 1)[0].split(":", 1)[0]


class StateMachine:
    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self._lock = threading.Lock()
        self.state = State.STOPPED
        self.since = _now_iso()
        self.phone = ""
        self.name = ""
        self.qr = ""
        self.qr_at = ""
        self.pairing_code = ""
        self.error = ""

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.snapshot_unlocked()

    def set(self, state: State, *, error: str | None = None, qr: str | None = None, **fields: Any) -> None:
        """Enter `state` (a no-op for the same state apart from updating fields). A `qr` given with
        a QR state is published in the same write as the state, so nobody reads QR_REQUIRED
        without its QR."""
        new_qr = False
        with self._lock:
            changed = state != self.state
            if changed:
                self.state, self.since = state, _now_iso()
            if state not in QR_STATES:
                self.qr, self.qr_at = "", ""
            elif qr is not None:
                new_qr = self._take_qr(qr)
            if state != State.PAIRING_CODE:
                self.pairing_code = ""
            if state in (State.LOGGED_OUT, State.QR_REQUIRED, State.PAIRING_CODE):
                self.phone, self.name = "", ""
            if error is not None or changed:
                self.error = error or ""
            for key, value in fields.items():
                setattr(self, key, value or "")
            snapshot = self.snapshot_unlocked()
        self.publisher.update(**snapshot)
        if changed:
            event = {"type": "state", **{k: snapshot[k] for k in ("state", "since", "phone", "name", "error")}}
            self.publisher.emit(event)
        if new_qr:
            self._emit_qr(snapshot["qr"], snapshot["qr_at"])

    def set_qr(self, code: str | None) -> None:
        """A new QR payload (wa-js `fullCode`); None when WhatsApp withdrew it."""
        with self._lock:
            if not self._take_qr(code):
                return
            qr, qr_at = self.qr, self.qr_at
        self.publisher.update(qr=qr, qr_at=qr_at)
        self._emit_qr(qr, qr_at)

    def _take_qr(self, code: str | None) -> bool:
        """Store `code` (under the lock); True if it differs from the current one."""
        if (code or "") == self.qr:
            return False
        self.qr = code or ""
        self.qr_at = _now_iso() if code else ""
        return True

    def _emit_qr(self, qr: str, qr_at: str) -> None:
        if qr:
            self.publisher.emit({"type": "qr", "qr": qr, "qr_at": qr_at})

    def snapshot_unlocked(self) -> dict[str, Any]:
        return {
            "state": str(self.state), "since": self.since, "phone": self.phone, "name": self.name,
            "qr": self.qr, "qr_at": self.qr_at, "pairing_code": self.pairing_code, "error": self.error,
        }
