"""The send rules: how a failed send is classified, when it is tried again, when it is given up.

Plain functions and constants: the worker (worker/delivery.py) applies them, the API and the tests
read them here. Codes are wa-js / WhatsApp Web error codes (the simulator answers with the same,
see tests/simulator/codes.py).

No long countdowns on the broker (DESIGN section 1): Redis redelivers a task that waited longer than
its visibility timeout, so a wait longer than MAX_BROKER_DELAY_SECONDS is a `not_before` on the row,
published by the outbox sweeper once due, never a countdown.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from core.settings import Settings
from models.enums import ErrorType

CODE_TYPES: dict[str, ErrorType] = {
    "chat_not_found": ErrorType.NOT_WHATSAPP, "wid_not_found": ErrorType.NOT_WHATSAPP,
    "invalid_wid": ErrorType.INVALID_NUMBER, "rate_overlimit": ErrorType.RATE_LIMIT,
    "blocked": ErrorType.BLOCKED, "not_ready": ErrorType.CONNECTION_ERROR,
}
# trying again cannot help: the number is wrong, not on WhatsApp, or has blocked the account
PERMANENT: frozenset[ErrorType] = frozenset({ErrorType.NOT_WHATSAPP, ErrorType.INVALID_NUMBER, ErrorType.BLOCKED})

MAX_BROKER_DELAY_SECONDS = 5.0  # the longest countdown a task may carry on the broker
WAIT_FOR_CONNECTION_SECONDS = 5.0  # a send while disconnected looks again this soon (no attempt burnt)
RECONCILE_AFTER_SECONDS = 5.0  # a send of unknown outcome is looked up in the chat this soon
JITTER = (0.8, 1.2)  # a retry's delay is its backoff times a random factor in this range


def classify(code: str, default: ErrorType = ErrorType.UNKNOWN) -> ErrorType:
    """The error type of a wa-js error code (`default` for codes we do not know)."""
    return CODE_TYPES.get(code, default)


def is_permanent(error_type: ErrorType) -> bool:
    return error_type in PERMANENT


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """The wait after the `attempts`-th failed try, before jitter: base, 2 base, 4 base... capped."""
    return float(min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** max(0, attempts - 1)))


def retry_delay(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """backoff_seconds with jitter, so many messages failing together do not retry together."""
    return backoff_seconds(attempts, settings) * (rng or random).uniform(*JITTER)


def too_old(created_at: datetime, settings: Settings, at: datetime | None = None) -> bool:
    """A message queued longer than SEND_MAX_AGE_MINUTES ago is no longer worth sending."""
    at = at or datetime.now(timezone.utc)
    return created_at < at - timedelta(minutes=settings.send_max_age_minutes)


def gives_up(error_type: ErrorType, attempts: int, created_at: datetime, settings: Settings,
             at: datetime | None = None) -> bool:
    """After a failed try: FAILED for good (permanent error, attempts used up, too old)?"""
    return (is_permanent(error_type) or attempts >= settings.send_max_attempts
            or too_old(created_at, settings, at))


def fits_on_broker(seconds: float | None) -> bool:
    """Whether a wait this long may be a task's countdown (else the row's not_before carries it)."""
    return not seconds or seconds <= MAX_BROKER_DELAY_SECONDS
