"""The one thread allowed to touch the Selenium driver (WebDriver is not thread-safe).

Callers hand it callables through a priority queue and wait on a future with a timeout; control
commands use a higher priority than message tasks so a `logout` is not stuck behind a bulk send.
Between commands the thread calls `on_idle` (the event pump): every `busy_interval` seconds
(EVENT_PUMP_BUSY_MS) while the session is busy (a command ran, or the pump found events, within
`BUSY_FOR` seconds: acks and replies follow sends), every `IDLE_INTERVAL` seconds otherwise. The
page's events wait in the page until the next pump, so the busy interval bounds how late an ack
reaches the event log, and costs CPU while busy (one `execute_script` per pump: README "Events").
"""
from __future__ import annotations

import contextvars
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable

from worker.errors import BrowserTimeout, SessionError

log = logging.getLogger(__name__)

CONTROL, NORMAL = 0, 1
IDLE_INTERVAL = 0.4
BUSY_FOR = 30.0


@dataclass(order=True)
class _Command:
    priority: int
    seq: int
    fn: Callable[[], Any] | None = field(compare=False)
    future: Future = field(compare=False)
    # the caller's context: the browser thread's log lines for a task carry the task's request id
    context: contextvars.Context = field(compare=False, default_factory=contextvars.copy_context)


class BrowserThread:
    def __init__(self, name: str, on_idle: Callable[[], bool | None], busy_interval: float = 0.05):
        """`on_idle` returns true when it found something to do (events on the page)."""
        self.busy_interval = busy_interval
        self._queue: queue.PriorityQueue[_Command] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._on_idle = on_idle
        self._busy_until = 0.0
        self._sequences = 0  # sequences of commands under way (`sequence`)
        self._sequences_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._stopping = threading.Event()
        self.busy_since: float | None = None  # monotonic start of the running command (watchdog)
        self.last_idle: float = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def pending(self) -> int:
        return self._queue.qsize()

    @contextmanager
    def sequence(self) -> Iterator[None]:
        """Commands that only make sense together (a file streamed into the page in chunks, then
        sent): the thread is not `idle` between them, so a memory restart waits for the end
        instead of losing what the page holds half-built."""
        with self._sequences_lock:
            self._sequences += 1
        try:
            yield
        finally:
            with self._sequences_lock:
                self._sequences -= 1

    def idle(self) -> bool:
        """No command waiting and no sequence under way: a restart loses nothing."""
        return self.pending() == 0 and self._sequences == 0

    def submit(self, fn: Callable[[], Any], priority: int = NORMAL) -> Future:
        future: Future = Future()
        if self._stopping.is_set():
            future.set_exception(SessionError("the session is shutting down"))
            return future
        self._queue.put(_Command(priority, next(self._seq), fn, future))
        return future

    def call(self, fn: Callable[[], Any], timeout: float, priority: int = NORMAL) -> Any:
        """Run `fn` on the browser thread and return its result, or raise `BrowserTimeout`.

        A command still waiting in the queue when the time is up is cancelled, so a send that
        timed out never happens later behind the caller's back."""
        if self.in_thread():
            return fn()
        future = self.submit(fn, priority)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise BrowserTimeout(f"the browser did not answer within {timeout:.0f} s") from None

    def stop(self, final: Callable[[], None] | None = None, timeout: float = 60) -> None:
        """Run `final` (the browser's destroy) after the commands already queued, then end."""
        done = self.submit(final or (lambda: None), priority=NORMAL + 1)
        self._stopping.set()
        self._queue.put(_Command(NORMAL + 2, next(self._seq), None, Future()))
        if self._thread.is_alive() and not self.in_thread():
            try:
                done.result(timeout=timeout)
            except Exception:  # noqa: BLE001 - reported by the callable itself
                pass
            self._thread.join(timeout=5)

    def _pump_interval(self) -> float:
        return self.busy_interval if time.monotonic() < self._busy_until else IDLE_INTERVAL

    def _loop(self) -> None:
        while True:
            wait = max(0.0, self._pump_interval() - (time.monotonic() - self.last_idle))
            try:
                command = self._queue.get(timeout=wait)
            except queue.Empty:
                command = None
            if command is not None:
                if command.fn is None:
                    return
                self._run(command)
            if not self._stopping.is_set() and time.monotonic() - self.last_idle >= self._pump_interval():
                try:
                    if self._on_idle():
                        self._busy_until = time.monotonic() + BUSY_FOR
                except Exception:  # noqa: BLE001 - the pump must never kill the thread
                    log.exception("event pump failed")
                self.last_idle = time.monotonic()

    def _run(self, command: _Command) -> None:
        if not command.future.set_running_or_notify_cancel():
            return
        self.busy_since = time.monotonic()
        self._busy_until = self.busy_since + BUSY_FOR
        try:
            command.future.set_result(command.context.run(command.fn))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            command.future.set_exception(exc)
        finally:
            self.busy_since = None
