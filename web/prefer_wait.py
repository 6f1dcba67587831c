"""`Prefer: wait=N` (RFC 7240) on the routes that queue one message: answer once it is sent.

The original API answered `/send` after WhatsApp had accepted the message; ours answers 202 QUEUED
at once. A client that needs the WhatsApp id in the answer sends `Prefer: wait=N`: after the
request's commit (web/transaction.py runs the wait after it, so the worker can see the row), the
request waits up to N seconds (at most PREFER_WAIT_MAX_SECONDS) for the message to become SENT or
FAILED, then answers 200 with the outcome, or the usual 202 QUEUED when it is still on its way.
Either way the answer carries `Preference-Applied: wait=<seconds waited at most>`.

While it waits the request holds no database connection and does not poll: one thread per API
process listens on the pub/sub channel the worker publishes each settled message's id on
(services.messages.mark_sent / mark_failed, after their commit), and wakes the waiting request's
`threading.Event`; the request then reads the row (the truth) once. A waiting request does hold
one of gunicorn's threads, so each process lets at most PREFER_WAIT_MAX_REQUESTS wait at once
(and never more than gunicorn's `threads` less 4, gunicorn.conf.py): past that, it is not applied
(RFC 7240 lets a server ignore it) and the request answers 202 at once, so waiting requests never
take the threads that other requests need.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
from flask import current_app, request
from sqlalchemy import Row, select

from core.db import db
from core.errors import error_body
from core.redis import Keys, redis_for
from models import Message
from models.enums import ErrorType, MessageStatus
from web.errors import request_language
from web.texts import say
from web.transaction import after_boundary

log = logging.getLogger(__name__)

PREFER_WAIT_200 = ("with `Prefer: wait=N`: the message was sent (status SENT or further, waMessageId) or failed "
                   "(status FAILED, errorType) within N seconds")
SUBSCRIBE_TIMEOUT_SECONDS = 2.0
RESERVED_THREADS = 4  # threads of a gunicorn worker never taken by a waiting request
server_threads: int | None = None  # gunicorn's `threads`, set by gunicorn.conf.py (None: not gunicorn)  # the first waiter of a process waits this long for the listener
RECONNECT_SECONDS = 1.0
SETTLED = (MessageStatus.SENT.value, MessageStatus.DELIVERED.value, MessageStatus.READ.value,
           MessageStatus.FAILED.value)


def requested_wait(header: str | None, maximum: int) -> int | None:
    """The seconds of a `Prefer: wait=N` header, bounded by `maximum`; None when there is none.

    RFC 7240: preferences are comma-separated, each `token[=value]` with `;` parameters; a
    preference not understood (or a malformed value) is ignored, never an error."""
    if not header:
        return None
    for preference in header.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if value.isdigit():
            return min(int(value), maximum)
    return None


class SettledListener:
    """One subscriber per process and Redis URL: wakes the requests waiting for a message id."""

    def __init__(self, url: str):
        self.url = url
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self._waiters: dict[str, threading.Event] = {}
        self._thread = threading.Thread(target=self._run, name="prefer-wait-listener", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def register(self, message_id: str, limit: int) -> threading.Event | None:
        """An Event set when `message_id` settles, or None when `limit` requests already wait."""
        with self._lock:
            if len(self._waiters) >= limit:
                return None
            event = self._waiters[message_id] = threading.Event()
            return event

    def unregister(self, message_id: str) -> None:
        with self._lock:
            self._waiters.pop(message_id, None)

    def _wake(self, message_id: str) -> None:
        with self._lock:
            event = self._waiters.get(message_id)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        """After a (re)subscription a signal may have been missed: every waiter reads its row again."""
        with self._lock:
            events = list(self._waiters.values())
        for event in events:
            event.set()

    def _run(self) -> None:
        while True:
            pubsub = None
            try:
                pubsub = redis_for(self.url).pubsub()
                pubsub.subscribe(Keys.message_settled())
                while True:
                    # a timeout, so the client's health check pings a connection that went quiet
                    item = pubsub.get_message(timeout=5.0)
                    if item is None:
                        continue
                    if item["type"] == "subscribe":
                        self.subscribed.set()
                        self._wake_all()
                    elif item["type"] == "message":
                        self._wake(item["data"])
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("Prefer: wait listener lost Redis (%s); subscribing again", exc)
                self._wake_all()
                time.sleep(RECONNECT_SECONDS)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (redis.RedisError, OSError):
                        pass


_listeners: dict[tuple[int, str], SettledListener] = {}
_listeners_lock = threading.Lock()


def listener_for(url: str) -> SettledListener:
    """This process's listener (started on first use: a forked gunicorn worker starts its own)."""
    key = (os.getpid(), url)
    with _listeners_lock:
        if key not in _listeners:
            _listeners[key] = SettledListener(url)
        return _listeners[key]


def _settled_row(message_id) -> Row | None:
    """The outcome's columns if the row is sent (or further) or failed (plain values: they outlive
    the read transaction, which ends at once, so the connection goes back to the pool)."""
    try:
        return db.execute(select(Message.status, Message.wa_message_id, Message.sent_at, Message.error_type,
                                 Message.error_message)
                          .where(Message.id == message_id, Message.status.in_(SETTLED))).first()
    finally:
        db.rollback()


def max_waiting(configured: int) -> int:
    """PREFER_WAIT_MAX_REQUESTS, bounded under gunicorn by its threads less RESERVED_THREADS: with
    `--threads 1` no request ever waits, so none can take the thread the others need."""
    if server_threads is None:
        return configured
    return max(0, min(configured, server_threads - RESERVED_THREADS))


def wait_settled(message_id, seconds: float) -> tuple[bool, Row | None]:
    """(whether the wait was applied, the message once settled within `seconds` or None). Not
    applied when this process already has PREFER_WAIT_MAX_REQUESTS waiting, or its listener cannot
    subscribe (Redis away): then the request answers at once."""
    settings = current_app.config["SETTINGS"]
    listener = listener_for(settings.redis_url)
    if not listener.subscribed.wait(SUBSCRIBE_TIMEOUT_SECONDS):
        return False, None
    event = listener.register(str(message_id), max_waiting(settings.prefer_wait_max_requests))
    if event is None:
        return False, None
    try:
        deadline = time.monotonic() + seconds
        while True:
            event.clear()
            row = _settled_row(message_id)  # after registering: a signal from now on is not missed
            remaining = deadline - time.monotonic()
            if row is not None or remaining <= 0:
                return True, row
            event.wait(remaining)
    finally:
        listener.unregister(str(message_id))


def _outcome(row: Row) -> tuple[dict[str, Any], str]:
    """The fields the 200 answer adds, and its message text."""
    if row.status == MessageStatus.FAILED.value:
        try:  # the error type's userMessage, in the request's language
            reason = error_body(ErrorType(row.error_type), "", request_language())["error"]["userMessage"]
        except (ValueError, KeyError):  # a type with no text of its own (CANCELLED)
            reason = row.error_type
        fields = {"status": row.status, "errorType": row.error_type, "errorMessage": row.error_message}
        return fields, say("message.failed", reason=reason)
    fields = {"status": row.status, "waMessageId": row.wa_message_id,
              "sentAt": row.sent_at.isoformat() if row.sent_at else None}
    return fields, say("message.sent")


def wait_after_commit(message_id) -> None:
    """Called by a view that queued one message: honour the request's `Prefer: wait` once the
    boundary has committed (web.transaction.after_boundary)."""
    settings = current_app.config["SETTINGS"]
    seconds = requested_wait(request.headers.get("Prefer"), settings.prefer_wait_max_seconds)
    if not seconds:  # absent, or wait=0: nothing to wait for
        return

    def wait(response):
        if response.status_code != 202:
            return response
        try:
            applied, row = wait_settled(message_id, seconds)
        except Exception:  # noqa: BLE001 - the message is queued: an error answer would invite a resend
            log.exception("Prefer: wait on message %s failed; answering 202", message_id)
            return response
        if not applied:
            return response
        response.headers["Preference-Applied"] = f"wait={seconds}"
        response.vary.add("Prefer")
        if row is None:
            return response
        body = response.get_json()
        fields, text = _outcome(row)
        body["data"].update(fields)
        body["message"] = text
        response.set_data(current_app.json.dumps(body))
        response.status_code = 200
        return response

    after_boundary(wait)

