"""The session state machine's states.

STOPPED -> STARTING -> QR_REQUIRED | PAIRING_CODE -> (STARTING while syncing) -> CONNECTED.
CONNECTED <-> DISCONNECTED follows `conn.online`; LOGGED_OUT when the device was unlinked (then a
new QR); FAILED when the browser cannot be started (retried with backoff).
"""
from __future__ import annotations

from enum import Enum


class State(str, Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    QR_REQUIRED = "QR_REQUIRED"
    PAIRING_CODE = "PAIRING_CODE"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    LOGGED_OUT = "LOGGED_OUT"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value
