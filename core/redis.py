"""The Redis client and the key names every part agrees on."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import redis

from core.settings import current_settings


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    """One shared client (and connection pool) per Redis URL."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def get_redis() -> redis.Redis:
    """The Redis of the settings in force (core.settings.current_settings)."""
    return redis_for(current_settings().redis_url)


class Keys:
    """Redis key names, in one place so the API, the worker and beat never drift apart."""

    @staticmethod
    def session_state(session: str) -> str:
        return f"wa:{session}:state"  # hash: state, since, phone, name, qr, qr_at, heartbeat...

    @staticmethod
    def session_events(session: str) -> str:
        return f"wa:{session}:events"  # pub/sub channel of JSON events

    @staticmethod
    def session_lock(session: str) -> str:
        return f"wa:{session}:lock"  # owner token of the worker driving the session

    @staticmethod
    def session_restarts(session: str) -> str:
        return f"wa:{session}:restarts"  # sorted set of browser restart times (the last hour's)

    @staticmethod
    def session_uptime(session: str, moment: datetime) -> str:
        """Seconds checked and seconds CONNECTED in the UTC hour of `moment` (hash `up`, `total`)."""
        return f"wa:{session}:uptime:{moment:%Y%m%d%H}"

    @staticmethod
    def session_control(session: str) -> str:
        return f"wa:{session}:control"  # list of control commands (initialize, disconnect...)

    @staticmethod
    def principal(identity: str) -> str:
        return f"auth:principal:{identity}"  # JSON of the caller behind a token subject (web.auth)

    @staticmethod
    def principal_generation(identity: str) -> str:
        return f"auth:principal-gen:{identity}"  # bumped when that user or token changes

    @staticmethod
    def bulk_chain(job_id) -> str:
        return f"bulk:{job_id}:chain"  # the live chain token of a bulk job; other chains stop

    @staticmethod
    def bulk_heartbeat(job_id) -> str:
        return f"bulk:{job_id}:beat"  # set by every chain step; the sweeper restarts a silent chain

    @staticmethod
    def events_wake(database: str) -> str:
        return f"events:{database}:wake"  # pub/sub: a commit wrote events (a wake-up only, never an event)

    @staticmethod
    def job_progress_event(job_id) -> str:
        return f"bulk:{job_id}:progress-event"  # set for a second after a job.progress event (throttle)

    @staticmethod
    def message_settled() -> str:
        return "wa:messages:settled"  # pub/sub: the id of each message that became SENT or FAILED

    @staticmethod
    def pacing(session: str) -> str:
        return f"wa:{session}:pacing"

    @staticmethod
    def pacing_buckets(base: str, moment: datetime) -> tuple[str, str]:
        """The hourly and daily send counters under a pacing key (UTC hour and day of `moment`)."""
        return f"{base}:h:{moment:%Y%m%d%H}", f"{base}:d:{moment:%Y%m%d}"
