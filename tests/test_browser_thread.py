"""The browser thread's pump pace (worker/thread.py): fast while the session is busy, slow when quiet.
Narrow unit tests: no browser, the pump is a plain function."""
import threading

import pytest

from worker import thread as browser_thread
from worker.thread import IDLE_INTERVAL, BrowserThread


@pytest.fixture
def pumped():
    found_events = threading.Event()
    pumps = threading.Semaphore(0)

    def pump():
        pumps.release()
        return found_events.is_set()

    browser = BrowserThread("test-browser", on_idle=pump)
    browser.start()
    yield browser, pumps, found_events
    browser.stop()


def test_a_quiet_session_pumps_at_the_idle_pace(pumped):
    browser, pumps, _ = pumped
    assert pumps.acquire(timeout=5)
    assert browser._pump_interval() == IDLE_INTERVAL


def test_a_command_makes_the_pump_fast_for_a_while(pumped, monkeypatch):
    browser, pumps, _ = pumped
    assert browser.call(lambda: "sent", timeout=5) == "sent"
    assert browser._pump_interval() == browser.busy_interval
    monkeypatch.setattr(browser_thread, "BUSY_FOR", 0.0)
    browser.call(lambda: None, timeout=5)
    assert browser._pump_interval() == IDLE_INTERVAL


def test_events_found_by_the_pump_keep_it_fast(pumped):
    browser, pumps, found_events = pumped
    found_events.set()
    assert pumps.acquire(timeout=5) and pumps.acquire(timeout=5)  # the second pump saw the first's answer
    assert browser._pump_interval() == browser.busy_interval


def test_a_sequence_of_commands_keeps_the_thread_from_being_idle(pumped):
    """A memory restart waits for `idle()`: not between the chunks of a file being streamed in."""
    browser, _, _ = pumped
    assert browser.idle()
    with browser.sequence():
        assert browser.call(lambda: "chunk", timeout=5) == "chunk"
        assert not browser.idle()
    assert browser.idle()
