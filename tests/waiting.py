"""Polling for what real processes do asynchronously (a worker, beat, the simulator)."""
import time


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate()` until it returns something truthy, and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_quiet(read, quiet: float, timeout: float, what: str, interval: float = 0.05):
    """Poll `read()` until its value has stayed the same for `quiet` s, and return that value: the
    sign that a process is done (e.g. no new arrival for a few pacing intervals). Wait for the
    process's own positive signal first (the job finished, the queue drained); this is the last step."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while True:
        time.sleep(interval)
        now, latest = time.monotonic(), read()
        if latest != value:
            value, since = latest, now
        elif now - since >= quiet:
            return value
        if now > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
