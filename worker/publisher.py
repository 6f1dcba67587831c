"""Everything the session tells the rest of the system, through Redis (no browser needed to read).

* hash `Keys.session_state(session)`: state, since, phone, name, qr, qr_at, pairing_code,
  heartbeat, pid, worker, error - read by `services.session_state.read_state`;
* pub/sub channel `Keys.session_events(session)`: one JSON object per event, `{"type": ...}`;
* in-process listeners (the message pipeline), called on a dispatcher thread so a slow listener
  never stalls the browser thread's event pump.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any, Callable

import redis

from core.redis import Keys

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


class Publisher:
    def __init__(self, client: redis.Redis, session: str):
        self.client = client
        self.session = session
        self._listeners: list[Listener] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._dispatch, name=f"wa-events-{session}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def update(self, **fields: Any) -> None:
        """Write fields of the state hash (None becomes an empty string)."""
        mapping = {k: "" if v is None else str(v) for k, v in fields.items()}
        try:
            self.client.hset(Keys.session_state(self.session), mapping=mapping)
        except redis.RedisError:
            log.warning("cannot write the session state to Redis", exc_info=True)

    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("session", self.session)
        event.setdefault("at", time.time())
        self._queue.put(event)

    def _dispatch(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self.client.publish(Keys.session_events(self.session), json.dumps(event, default=str))
            except redis.RedisError:
                log.warning("cannot publish a session event", exc_info=True)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # noqa: BLE001 - one broken listener must not starve the others
                    log.exception("session listener %r failed on %s", listener, event.get("type"))
