"""Value types of the simulator: errors answered to the page, devices (linked browsers) and chats."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SimError(Exception):
    """A wa-js style failure (WPPError): `code`, `message` and extra fields, answered as JSON 409."""

    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


class Offline(Exception):
    """The connection is dropped: the page retries until it is back."""


class NotReady(Exception):
    """The device is not linked, so nothing can be sent or read."""


def chat_id(value: str) -> str:
    """`393331234567` or `393331234567@c.us` -> `393331234567@c.us`; group ids pass through."""
    value = str(value).strip().lstrip("+")
    if "@" in value:
        return value
    if "-" in value:
        return f"{value}@g.us"
    return f"{value}@c.us"


def key_serialized(from_me: bool, remote: str, msg_id: str, participant: str | None) -> str:
    parts = ["true" if from_me else "false", remote, msg_id]
    if participant:
        parts.append(participant)
    return "_".join(parts)


@dataclass
class Device:
    id: str
    linked: bool = False
    last_seen: float = 0.0
    qr: dict | None = None
    qr_since: float = 0.0
    rotations: int = 0
    idle: bool = False
    pairing_phone: str | None = None
    pairing_code: str | None = None
    user_agent: str | None = None
    events: list[tuple[int, str, Any]] = field(default_factory=list)

    def view(self) -> dict:
        return {
            "id": self.id,
            "linked": self.linked,
            "lastSeen": self.last_seen,
            "qr": self.qr["fullCode"] if self.qr else None,
            "qrIdle": self.idle,
            "pairingCode": self.pairing_code,
            "userAgent": self.user_agent,
        }


@dataclass
class Chat:
    id: str
    name: str | None = None
    unread: int = 0
    msgs: list[dict] = field(default_factory=list)
