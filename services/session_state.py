"""The WhatsApp session as the API sees it, read from Redis: no browser, no worker call.

The worker publishes its state hash (see worker/publisher.py) and reads a control list; this
module is the API's side of both.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import redis

from datetime import datetime, timedelta, timezone

from core.redis import Keys, get_redis

log = logging.getLogger(__name__)

RESTARTS_WINDOW = 3600.0  # seconds of browser restarts kept, for the restarts-per-hour alert
ALIVE_WITHIN = 15.0  # seconds: a worker heartbeats every 3 s
COMMANDS = ("initialize", "disconnect", "reconnect", "logout", "pairing_code")


def read_state(session: str) -> dict[str, Any]:
    """State of `session`: state, since, phone, name, qr, qr_at, pairing_code, error, worker, pid,
    heartbeat_age (seconds, None if never), alive (a worker heartbeat within 15 s) and browser_mb
    (the browser's resident memory at the last heartbeat, while alive and the browser runs).

    A session whose worker is not alive reports state STOPPED whatever the hash says: a worker
    killed with -9 never got to write its last state."""
    raw = get_redis().hgetall(Keys.session_state(session))
    try:
        age: float | None = max(0.0, time.time() - float(raw.get("heartbeat", "")))
    except ValueError:
        age = None
    alive = age is not None and age < ALIVE_WITHIN
    state = raw.get("state") or "STOPPED"
    return {
        "session": session,
        "state": state if alive else "STOPPED",
        "last_state": state,
        "since": raw.get("since") or None,
        "phone": raw.get("phone") or None,
        "name": raw.get("name") or None,
        "qr": raw.get("qr") or None,
        "qr_at": raw.get("qr_at") or None,
        "pairing_code": raw.get("pairing_code") or None,
        "error": raw.get("error") or None,
        "worker": raw.get("worker") or None,
        "pid": int(raw["pid"]) if raw.get("pid", "").isdigit() else None,
        "heartbeat_age": None if age is None else round(age, 1),
        "alive": alive,
        "browser_mb": _float(raw.get("browser_mb")) if alive else None,
    }


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def send_control(session: str, command: str, **args: Any) -> str:
    """Queue a control command for the session's worker; returns its id (echoed in the
    `{"type": "control", "id": ...}` event the worker publishes when it has run it)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown control command {command!r}; one of {', '.join(COMMANDS)}")
    command_id = uuid.uuid4().hex
    payload = {"id": command_id, "command": command, "args": args, "at": time.time()}
    get_redis().rpush(Keys.session_control(session), json.dumps(payload))
    return command_id


def record_restart(session: str) -> None:
    """The session's worker restarted its browser: counted for /metrics and for the alert on
    restarts per hour (services/health.py), which beat evaluates from Redis."""
    from core.metrics import BROWSER_RESTARTS

    BROWSER_RESTARTS.labels(session).inc()
    now = time.time()
    key = Keys.session_restarts(session)
    try:
        get_redis().pipeline().zadd(key, {f"{now:.6f}": now}).zremrangebyscore(key, "-inf", now - RESTARTS_WINDOW) \
            .expire(key, int(RESTARTS_WINDOW) * 2).execute()
    except redis.RedisError as exc:  # never in the way of the restart itself
        log.warning("session %s: browser restart not recorded (%s)", session, type(exc).__name__)


def restarts_within(session: str, seconds: float = RESTARTS_WINDOW) -> int:
    return get_redis().zcount(Keys.session_restarts(session), time.time() - seconds, "+inf")

