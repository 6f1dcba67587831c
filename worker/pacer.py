"""Pacing of one session's sends, below every caller, with its state in Redis (a restart keeps it).

Rules: at least SEND_MIN_INTERVAL_MS (+ random jitter up to SEND_JITTER_MS) between the end of one
send and the start of the next; never more than SEND_MAX_PER_SECOND sends in any 1-second window;
optional hourly and daily caps. Each session may override these values (services.sessions, the
`sessions` table); the pacer re-reads them every few seconds, so a change applies without a restart.
Times are measured from the *end* of each send, so the recipient
side sees the same gaps whatever the browser's latency. Only the worker holding the session lock
sends, so the state needs no cross-process atomicity.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.db import get_engine
from core.redis import Keys
from core.settings import Settings
from services import runtime_settings
from services.sessions import PacingCaps, default_caps, pacing_for

log = logging.getLogger(__name__)
CAPS_REFRESH_SECONDS = 10.0


class PacingDeferred(Exception):
    """The next send may not happen for a long while (an hourly or daily cap): retry then."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(f"{reason}: next send in {seconds:.0f} s")
        self.seconds = seconds
        self.reason = reason


class SessionCaps:
    """The pacing caps of one session as a callable, read from PostgreSQL at most every
    CAPS_REFRESH_SECONDS (on its own short transaction, never the task's). While the database
    cannot be read, the last caps read (else the settings' defaults) stay in force. `read` and
    `fallback` make the same for another kind of call (`check_pacer`)."""

    def __init__(self, name: str, settings: Settings, refresh_seconds: float = CAPS_REFRESH_SECONDS, *,
                 read: Callable[[Session], PacingCaps] | None = None,
                 fallback: Callable[[], PacingCaps] | None = None):
        self.name, self.settings, self.refresh = name, settings, refresh_seconds
        self.read = read or (lambda session: pacing_for(session, name, settings))
        self.fallback = fallback or (lambda: default_caps(settings))
        self._caps: PacingCaps | None = None
        self._read_at = 0.0

    def __call__(self) -> PacingCaps:
        now = time.monotonic()
        if self._caps is None or now - self._read_at >= self.refresh:
            try:
                with Session(get_engine()) as session:
                    self._caps = self.read(session)
            except SQLAlchemyError as exc:
                log.warning("session %s: pacing caps not readable (%s); keeping the last ones", self.name,
                            str(exc).splitlines()[0])
                self._caps = self._caps or self.fallback()
            self._read_at = now
        return self._caps


class Pacer:
    def __init__(self, client: redis.Redis, settings: Settings, max_block_seconds: float = 30.0, *,
                 key: str | None = None, limits: Callable[[], PacingCaps] | None = None):
        """The sends of the settings' session, with that session's caps; `key` and `limits` make a
        pacer for another kind of call than sends, e.g. WhatsApp-existence checks (see `check_pacer`)."""
        self.client = client
        self.settings = settings
        self.max_block = max_block_seconds
        self.limits = limits or SessionCaps(settings.session_name, settings)
        base = key or Keys.pacing(settings.session_name)
        self.next_key, self.window_key = f"{base}:next", f"{base}:window"
        self.base = base

    def _bucket_keys(self, now: float) -> tuple[str, str]:
        return Keys.pacing_buckets(self.base, datetime.fromtimestamp(now, timezone.utc))

    def delay(self, now: float | None = None) -> float:
        """Seconds until the next send is allowed (0 = now). Raises PacingDeferred past a cap."""
        now = time.time() if now is None else now
        limits = self.limits()
        waits = [float(self.client.get(self.next_key) or 0) - now]
        per_second = limits.max_per_second
        recent = self.client.zrangebyscore(self.window_key, now - 1.0, "+inf", withscores=True)
        if len(recent) >= per_second:
            # the oldest send that still counts must leave the window first
            waits.append(recent[-per_second][1] + 1.0 - now + 0.001)
        hour_key, day_key = self._bucket_keys(now)
        hourly, daily = self.client.mget(hour_key, day_key)
        if limits.max_per_day and int(daily or 0) >= limits.max_per_day:
            raise PacingDeferred(86400 - now % 86400, "daily cap reached")
        if limits.max_per_hour and int(hourly or 0) >= limits.max_per_hour:
            raise PacingDeferred(3600 - now % 3600, "hourly cap reached")
        return max(0.0, *waits)

    def wait_turn(self, lead: float = 0.0) -> None:
        """Block until a send is allowed, or until `lead` seconds before (the typing that comes
        first: worker/composing.py); waits longer than max_block raise PacingDeferred."""
        while True:
            wait = self.delay() - lead
            if wait <= 0:
                return
            if wait > self.max_block:
                raise PacingDeferred(wait, "pacing")
            time.sleep(min(wait, 0.25))

    def record_send(self) -> None:
        """Call right after a send completed."""
        now = time.time()
        limits = self.limits()
        interval = (limits.min_interval_ms + random.uniform(0, limits.jitter_ms)) / 1000
        hour_key, day_key = self._bucket_keys(now)
        pipe = self.client.pipeline()
        pipe.set(self.next_key, now + interval, ex=86400)
        pipe.zadd(self.window_key, {f"{now:.6f}": now})
        pipe.zremrangebyscore(self.window_key, "-inf", now - 5)
        pipe.expire(self.window_key, 60)
        pipe.incr(hour_key)
        pipe.expire(hour_key, 2 * 3600)
        pipe.incr(day_key)
        pipe.expire(day_key, 2 * 86400)
        pipe.execute()


def check_caps(settings: Settings) -> PacingCaps:
    return PacingCaps(min_interval_ms=settings.check_min_interval_ms, jitter_ms=settings.check_min_interval_ms // 4,
                      max_per_second=settings.send_max_per_second, max_per_hour=0, max_per_day=0)


def check_pacer(client: redis.Redis, settings: Settings) -> Pacer:
    """WhatsApp-existence checks, paced apart from sends: bursts of lookups get accounts banned.
    CHECK_MIN_INTERVAL_MS may be changed at /api/settings: re-read like the send caps."""
    limits = SessionCaps(settings.session_name, settings,
                         read=lambda session: check_caps(runtime_settings.effective(session, settings)),
                         fallback=lambda: check_caps(settings))
    return Pacer(client, settings, key=f"{Keys.pacing(settings.session_name)}:checks", limits=limits)
