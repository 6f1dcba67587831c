"""Serving the event log as Server-Sent Events to many clients from one process.

One follower thread per process (and database) reads the log in order (services.events.LogReader)
whenever Redis says something was committed, at least every second, and keeps the most recent
events in memory. Each client's stream only filters that memory, so 200 clients cost one query
per wake-up, not 200. A client resuming from further back than the memory holds reads the log
itself until it catches up. Redis pub/sub is only the wake-up: with Redis gone the follower polls.
"""
from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterator

import redis
from sqlalchemy import Engine

from services.events import LogReader, LoggedEvent, last_id

log = logging.getLogger(__name__)

KEEP = 20_000  # events held in memory per process (about 1 KB each)
POLL_SECONDS = 1.0  # the follower reads the log at least this often without a wake-up
COALESCE_SECONDS = 0.005  # after a wake-up, so the commits landing together cost one read
HOLE_POLL_SECONDS = 0.02  # while an id is still being written by a transaction in flight
# A stream takes events from the memory at most once per this interval (see `stream`). The first
# event after a quiet spell goes at once.
STREAM_BATCH_SECONDS = 0.1


class Follower:
    def __init__(self, engine: Engine, client: redis.Redis, channel: str):
        self.engine = engine
        self.client = client
        self.channel = channel
        with engine.connect() as conn:
            self.base = last_id(conn)  # the memory covers every id after this one
        self.reader = LogReader(self.base)
        self._ids: list[int] = []
        self._events: list[LoggedEvent] = []
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self.generation = 0  # bumped when the log's ids went back (a restored database, tests)
        self._closed = False
        self._failing = False
        threading.Thread(target=self._listen, name="events-wake", daemon=True).start()
        threading.Thread(target=self._follow, name="events-follow", daemon=True).start()

    @property
    def cursor(self) -> int:
        return self.reader.cursor

    def close(self) -> None:
        """Stop following (within a poll interval); its streams end at their next wait."""
        self._closed = True
        self._wake.set()

    def _listen(self) -> None:
        while not self._closed:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                while not self._closed:
                    if pubsub.get_message(timeout=POLL_SECONDS):
                        self._wake.set()
                pubsub.close()
            except redis.RedisError as exc:
                log.warning("events wake-up channel lost (%s); polling until it is back", exc)
                time.sleep(1)

    def _follow(self) -> None:
        while not self._closed:
            woken = self._wake.wait(HOLE_POLL_SECONDS if self.reader.waiting else POLL_SECONDS)
            if woken:
                time.sleep(COALESCE_SECONDS)
            self._wake.clear()
            try:
                with self.engine.connect() as conn:
                    read = False
                    while events := self.reader.read(conn):
                        self._add(events)
                        read = True
                    if not read and (woken or self.reader.waiting):
                        self._check_rewound(conn)
            except Exception as exc:  # noqa: BLE001 - the database away: try again at the next poll
                # once per outage, not once a second
                (log.debug if self._failing else log.warning)("could not read the event log: %s",
                                                              str(exc).splitlines()[0])
                self._failing = True
                time.sleep(1)
            else:
                self._failing = False

    def _check_rewound(self, conn) -> None:
        """Woken (or waiting for a hole) and nothing to read: were the ids set back below the
        cursor (a database restored from a backup, a test's `RESTART IDENTITY`)? Then follow the
        log from its new end."""
        latest = last_id(conn)
        if latest < self.reader.cursor:
            log.warning("the event log's ids went back from %d to %d: following it from there",
                        self.reader.cursor, latest)
            with self._changed:
                self.reader = LogReader(latest)
                self.base, self._ids, self._events = latest, [], []
                self.generation += 1
                self._changed.notify_all()

    def _add(self, events: list[LoggedEvent]) -> None:
        with self._changed:
            self._ids += [event.id for event in events]
            self._events += events
            if len(self._ids) > 2 * KEEP:
                dropped = len(self._ids) - KEEP
                self.base = self._ids[dropped - 1]
                del self._ids[:dropped], self._events[:dropped]
            self._changed.notify_all()

    def after(self, cursor: int) -> list[LoggedEvent] | None:
        """Events after `cursor` held in memory; None when `cursor` is older than the memory."""
        with self._changed:
            if cursor < self.base:
                return None
            return self._events[bisect.bisect_right(self._ids, cursor):]

    def wait(self, cursor: int, timeout: float) -> bool:
        """Until the memory holds events after `cursor` (True) or `timeout` (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.reader.cursor > cursor, timeout)


_followers: dict[str, Follower] = {}
_lock = threading.Lock()


def reset() -> None:
    """Forget every follower (tests: a truncated log restarts its ids under a live follower)."""
    with _lock:
        for source in _followers.values():
            source.close()
        _followers.clear()


def follower(engine: Engine, client: redis.Redis, channel: str) -> Follower:
    key = str(engine.url)
    with _lock:
        if key not in _followers:
            _followers[key] = Follower(engine, client, channel)
        return _followers[key]


def stream(source: Follower, after: int | None, accept: Callable[[LoggedEvent], bool], *,
           heartbeat_seconds: float, max_seconds: float) -> Iterator[str]:
    """The SSE text of every accepted event after `after` (None: from now on), then live, for at
    most `max_seconds` (EventSource reconnects by itself, sending Last-Event-ID)."""
    cursor = source.cursor if after is None else after
    generation = source.generation
    own: LogReader | None = None  # reads the log itself while behind the memory
    deadline = time.monotonic() + max_seconds
    quiet_since = time.monotonic()
    last_batch = 0.0  # when this stream last took events from the memory
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline:
        if source.generation != generation:  # the ids went back: ours may be ahead of every new one
            generation, cursor = source.generation, min(cursor, source.base)
        # Under load a stream takes what came in the last interval in one go, by the clock, without
        # waiting on the follower: 200 streams each woken by every read of the log cost most of a
        # core in wake-ups. After a quiet spell the first event goes at once (no pause to wait out).
        pause = last_batch + STREAM_BATCH_SECONDS - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        events = source.after(cursor)
        if events is None:  # behind the memory: catch up from the log, at its own pace
            own = own if own is not None and own.cursor == cursor else LogReader(cursor)
            with source.engine.connect() as conn:
                events = own.read(conn, 500)
            if not events and own.waiting:
                time.sleep(HOLE_POLL_SECONDS)
                continue
            if not events:  # nothing more on the log than the memory: the memory takes over
                source.wait(cursor, 0.05)
        elif events:
            last_batch = time.monotonic()
        if events:
            cursor = events[-1].id
            if text := "".join(event.sse for event in events if accept(event)):  # one write per batch
                quiet_since = time.monotonic()
                yield text
            continue
        if time.monotonic() - quiet_since >= heartbeat_seconds:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        source.wait(cursor, min(heartbeat_seconds, max(0.0, deadline - time.monotonic())))
