"""Pacing of one session's sends, below every caller, with its state in Redis (a restart keeps it).

Rules: at least SEND_MIN_INTERVAL_MS (+ random jitter up to SEND_JITTER_MS) between the end of one
send and the start of the next; never more than SEND_MAX_PER_SECOND sends in any 1-second window;
optional hourly and daily caps. Times are measured from the *end* of each send, so the recipient
side sees the same gaps whatever the browser's latency. Only the worker holding the session lock
sends, so the state needs no cross-process atomicity.
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timezone

import redis

from core.redis import Keys
from core.settings import Settings


class PacingDeferred(Exception):
    """The next send may not happen for a long while (an hourly or daily cap): retry then."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(f"{reason}: next send in {seconds:.0f} s")
        self.seconds = seconds
        self.reason = reason


class Pacer:
    def __init__(self, client: redis.Redis, settings: Settings, max_block_seconds: float = 30.0, *,
                 key: str | None = None, min_interval_ms: int | None = None, jitter_ms: int | None = None,
                 caps: bool = True):
        """`key`, `min_interval_ms`, `jitter_ms` and `caps=False` (no hourly/daily caps) make a pacer
        for another kind of call than sends, e.g. WhatsApp-existence checks (see `check_pacer`)."""
        self.client = client
        self.settings = settings
        self.max_block = max_block_seconds
        self.min_interval_ms = settings.send_min_interval_ms if min_interval_ms is None else min_interval_ms
        self.jitter_ms = settings.send_jitter_ms if jitter_ms is None else jitter_ms
        self.caps = caps
        base = key or Keys.pacing(settings.session_name)
        self.next_key, self.window_key = f"{base}:next", f"{base}:window"
        self.base = base

    def _bucket_keys(self, now: float) -> tuple[str, str]:
        moment = datetime.fromtimestamp(now, timezone.utc)
        return f"{self.base}:h:{moment:%Y%m%d%H}", f"{self.base}:d:{moment:%Y%m%d}"

    def delay(self, now: float | None = None) -> float:
        """Seconds until the next send is allowed (0 = now). Raises PacingDeferred past a cap."""
        now = time.time() if now is None else now
        waits = [float(self.client.get(self.next_key) or 0) - now]
        per_second = self.settings.send_max_per_second
        recent = self.client.zrangebyscore(self.window_key, now - 1.0, "+inf", withscores=True)
        if len(recent) >= per_second:
            # the oldest send that still counts must leave the window first
            waits.append(recent[-per_second][1] + 1.0 - now + 0.001)
        hour_key, day_key = self._bucket_keys(now)
        hourly, daily = self.client.mget(hour_key, day_key)
        if not self.caps:
            return max(0.0, *waits)
        if self.settings.send_max_per_day and int(daily or 0) >= self.settings.send_max_per_day:
            raise PacingDeferred(86400 - now % 86400, "daily cap reached")
        if self.settings.send_max_per_hour and int(hourly or 0) >= self.settings.send_max_per_hour:
            raise PacingDeferred(3600 - now % 3600, "hourly cap reached")
        return max(0.0, *waits)

    def wait_turn(self) -> None:
        """Block until a send is allowed; waits longer than max_block raise PacingDeferred."""
        while True:
            wait = self.delay()
            if wait <= 0:
                return
            if wait > self.max_block:
                raise PacingDeferred(wait, "pacing")
            time.sleep(min(wait, 0.25))

    def record_send(self) -> None:
        """Call right after a send completed."""
        now = time.time()
        interval = (self.min_interval_ms + random.uniform(0, self.jitter_ms)) / 1000
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


def check_pacer(client: redis.Redis, settings: Settings) -> Pacer:
    """WhatsApp-existence checks, paced apart from sends: bursts of lookups get accounts banned."""
    return Pacer(client, settings, key=f"{Keys.pacing(settings.session_name)}:checks",
                 min_interval_ms=settings.check_min_interval_ms, jitter_ms=settings.check_min_interval_ms // 4,
                 caps=False)
