"""The lease that makes sure two workers never drive the same WhatsApp session.

A Redis key per session holds the owner's token (hostname:pid:random) with a TTL of `ttl` seconds,
refreshed by the heartbeat, so a worker that dies (even with kill -9) frees the session within
`ttl` seconds and another worker claims it.

A worker restarted on the same machine (or any worker there) need not wait out the lease of a holder
that is gone: a token naming this machine and a process that no longer runs is taken over at once.

Fencing: the owner also keeps the lease's end on its own monotonic clock, from the moment it asked
Redis (before the answer, so never later than the key's real expiry). `held()` is False once that
moment has passed without a refresh, whatever Redis says: a worker frozen past its lease (SIGSTOP, a
stalled VM, a partition) finds on waking that it may no longer act, before its monitor has even run.
CLOCK_MONOTONIC keeps counting while a process is stopped, which is what makes this work.
"""
from __future__ import annotations

import os
import socket
import time
import uuid

import psutil
import redis

# A missing key (Redis restarted empty) is taken back: nobody else drives the session then.
_REFRESH = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
if not owner then redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
_SWAP = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return false
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# The lease is given up this long before the key would expire: Redis and this process measure the
# TTL from slightly different moments.
MARGIN = 1.0


class SessionLock:
    def __init__(self, client: redis.Redis, key: str, ttl: int = 20, hostname: str | None = None):
        self.client = client
        self.key = key
        self.ttl = ttl
        self.token = f"{hostname or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.host = host_of(self.token)
        self.valid_until = 0.0  # monotonic end of the lease as this process knows it

    def acquire(self) -> bool:
        asked = time.monotonic()
        if self.client.set(self.key, self.token, nx=True, ex=self.ttl):
            self.valid_until = asked + self.ttl - MARGIN
            return True
        return False

    def take_over_from_dead(self) -> bool:
        """Take the lease from a holder on this machine whose process is gone (killed, crashed)."""
        holder = self.owner()
        if not holder or host_of(holder) != self.host or holder_alive(holder, self.token):
            return False
        asked = time.monotonic()
        if self.client.eval(_SWAP, 1, self.key, holder, self.token, self.ttl):
            self.valid_until = asked + self.ttl - MARGIN
            return True
        return False

    def refresh(self) -> bool:
        """Extend the lease if we still own it; False means another worker took it."""
        asked = time.monotonic()
        if self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl):
            self.valid_until = asked + self.ttl - MARGIN
            return True
        self.valid_until = 0.0
        return False

    def held(self) -> bool:
        """The lease is ours and has not run out on our own clock (no Redis call: cheap, and
        true only while no other worker can have taken the session)."""
        return time.monotonic() < self.valid_until

    def release(self) -> None:
        self.valid_until = 0.0
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def owner(self) -> str | None:
        return self.client.get(self.key)


def host_of(token: str) -> str:
    """The machine of a token: `node@host:pid:random` (a Celery node name) or `host:pid:random`."""
    return token.rsplit(":", 2)[0].rpartition("@")[2]


def holder_alive(holder: str, mine: str) -> bool:
    """Is the process named by `holder` (a token of this machine) still running? A token with our own
    pid but not our token is a predecessor's whose pid we inherited (a restarted container)."""
    try:
        pid = int(holder.rsplit(":", 2)[1])
    except (IndexError, ValueError):
        return True  # not a token of ours: leave it to expire
    if pid == os.getpid():
        return holder == mine
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
