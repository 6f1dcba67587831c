"""The Redis client and the key names every part agrees on."""
from __future__ import annotations

from functools import lru_cache

import redis

from core.settings import get_settings


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    """One shared client (and connection pool) per Redis URL."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def get_redis() -> redis.Redis:
    return redis_for(get_settings().redis_url)


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
    def session_control(session: str) -> str:
        return f"wa:{session}:control"  # list of control commands (initialize, disconnect...)

    @staticmethod
    def rate_limit(scope: str, caller: str, window_seconds: int) -> str:
        return f"ratelimit:{scope}:{caller}:{window_seconds}"  # requests counted in the current window

    @staticmethod
    def principal(identity: str) -> str:
        return f"auth:principal:{identity}"  # JSON of the caller behind a token subject (web.auth)

    @staticmethod
    def principal_generation(identity: str) -> str:
        return f"auth:principal-gen:{identity}"  # bumped when that user or token changes

    @staticmethod
    def pacing(session: str) -> str:
        return f"wa:{session}:pacing"
