"""The Redis lock that makes sure two workers never drive the same WhatsApp session.

The value is an owner token (hostname:pid:random); the TTL is refreshed by the heartbeat, so a
worker that dies (even with kill -9) frees the session within `ttl` seconds.
"""
from __future__ import annotations

import os
import socket
import uuid

import redis

# A missing key (Redis restarted empty) is taken back: nobody else drives the session then.
_REFRESH = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
if not owner then redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class SessionLock:
    def __init__(self, client: redis.Redis, key: str, ttl: int = 20, hostname: str | None = None):
        self.client = client
        self.key = key
        self.ttl = ttl
        self.token = f"{hostname or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, ex=self.ttl))

    def refresh(self) -> bool:
        """Extend the TTL if we still own the lock; False means another worker took it."""
        return bool(self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def owner(self) -> str | None:
        return self.client.get(self.key)
