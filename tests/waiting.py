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
