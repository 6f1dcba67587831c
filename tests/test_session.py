"""The WhatsApp session worker, end to end: a real `celery worker` process driving headless Chromium
against the simulator, observed the way the API observes it (Redis state hash and events)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from models import Message
from services import messages
from services.phones import check_number
from services.session_state import read_state, send_control
from tests.fixtures.worker import main_browser_pid

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def connect(worker, sim) -> dict:
    worker.wait_state("QR_REQUIRED", timeout=30)
    sim.scan()
    return worker.wait_state("CONNECTED", timeout=20)


def test_fresh_profile_asks_for_the_current_qr_and_a_scan_connects(start_worker, fresh_simulator):
    sim = fresh_simulator
    worker = start_worker()

    worker.wait_state("QR_REQUIRED", timeout=30)
    state = read_state(worker.session)
    assert state["alive"] and state["state"] == "QR_REQUIRED"
    assert state["qr"] and state["qr"] == sim.state()["qr"]

    sim.config(qrRotateSeconds=2)
    try:
        first = state["qr"]
        worker.wait_for(lambda: read_state(worker.session)["qr"] not in (None, first), 10, "a rotated QR")
        worker.wait_for(lambda: read_state(worker.session)["qr"] == sim.state()["qr"], 5, "the current QR")
    finally:
        sim.config(qrRotateSeconds=20)

    sim.scan()
    worker.wait_state("CONNECTED", timeout=20)
    state = read_state(worker.session)
    assert state["phone"] == sim.state()["me"] and state["qr"] is None
    assert state["pid"] == worker.process.pid and state["heartbeat_age"] < 10


def test_restart_on_the_same_profile_needs_no_scan_and_leaves_no_chromium(start_worker, fresh_simulator):
    worker = start_worker()
    connect(worker, fresh_simulator)
    assert worker.processes()

    assert worker.stop() == 0
    assert worker.processes() == []
    assert read_state(worker.session)["state"] == "STOPPED"

    again = start_worker(session=worker.session, tokens_dir=worker.tokens_dir)
    again.wait_state("CONNECTED", timeout=30)  # no scan
    assert read_state(again.session)["phone"] == fresh_simulator.state()["me"]


def test_phone_side_logout_goes_to_logged_out_then_a_new_qr(start_worker, fresh_simulator, events):
    sim = fresh_simulator
    worker = start_worker()
    connect(worker, sim)
    recorder = events(worker.session)

    sim.logout()

    worker.wait_state("QR_REQUIRED", timeout=20)

    def qr_required_after_logged_out():
        # the state hash is written at once, its events go out after it on the dispatcher thread
        states = recorder.states()
        return "LOGGED_OUT" in states and "QR_REQUIRED" in states[states.index("LOGGED_OUT"):]

    worker.wait_for(qr_required_after_logged_out, 10, "the LOGGED_OUT event, then QR_REQUIRED")
    worker.wait_for(lambda: read_state(worker.session)["qr"] == sim.state()["qr"], 10, "the new QR")


def test_logout_command_unlinks_wipes_the_profile_and_shows_a_new_qr(start_worker, fresh_simulator, events):
    sim = fresh_simulator
    worker = start_worker()
    connect(worker, sim)
    marker = worker.profile_dir / "marker"
    marker.write_text("from the linked profile")
    recorder = events(worker.session)

    send_control(worker.session, "logout")

    worker.wait_for(lambda: any(e.get("type") == "control" and e["command"] == "logout" for e in recorder.events),
                    60, "the logout to complete")
    assert [e for e in recorder.events if e.get("type") == "control"][0]["ok"] is True
    assert "LOGGED_OUT" in recorder.states()
    worker.wait_state("QR_REQUIRED", timeout=30)
    assert not marker.exists()
    assert sim.state()["linked"] is False


def test_disconnect_and_initialize_commands(start_worker, fresh_simulator):
    worker = start_worker()
    connect(worker, fresh_simulator)

    send_control(worker.session, "disconnect")
    worker.wait_state("STOPPED", timeout=10)
    worker.wait_for(lambda: worker.processes() == [], 10, "the browser to close")
    assert read_state(worker.session)["alive"]  # the worker itself lives on

    send_control(worker.session, "initialize")
    worker.wait_state("CONNECTED", timeout=30)  # profile kept: no scan


def test_killed_chromium_comes_back_connected_without_orphans(start_worker, fresh_simulator):
    worker = start_worker()
    connect(worker, fresh_simulator)
    # Chromium commits localStorage to disk up to 5 s after a write; a crash before that loses
    # the login there, as it would with WhatsApp Web. Crash a settled browser.
    time.sleep(8)
    old = {p.pid for p in worker.processes()}
    browser = main_browser_pid(worker.tokens_dir, worker.session)
    assert browser

    os.kill(browser, signal.SIGKILL)

    worker.wait_for(lambda: main_browser_pid(worker.tokens_dir, worker.session) not in (None, browser),
                    60, "a new chromium")
    worker.wait_state("CONNECTED", timeout=60)
    time.sleep(1)
    assert not old & {p.pid for p in worker.processes()}


def test_a_second_worker_for_the_same_session_stands_by_and_takes_over(start_worker, fresh_simulator,
                                                                       committed_db):
    first = start_worker()
    connect(first, fresh_simulator)
    second = start_worker(session=first.session, tokens_dir=first.tokens_dir)

    second.wait_for(lambda: "stands by" in second.log(), 20, "the stand-by message")
    time.sleep(3)
    assert read_state(first.session)["pid"] == first.process.pid
    assert read_state(first.session)["state"] == "CONNECTED"
    assert all(p.ppid() != second.process.pid for p in first.processes())

    first.stop()
    second.wait_for(lambda: read_state(first.session)["pid"] == second.process.pid, 40, "the take-over")
    second.wait_state("CONNECTED", timeout=30)

    # the stand-by consumes the session's queue now: a message queued after the take-over goes out
    [message] = messages.enqueue(committed_db, session_name=first.session, phones=[check_number("3339990001")],
                                 bodies="after the take-over", user_id=None)
    committed_db.commit()
    second.wait_for(lambda: any(m["body"] == "after the take-over" for m in fresh_simulator.messages()),
                    30, "the message sent by the new owner")

    def recorded_sent():
        committed_db.expire_all()
        return committed_db.get(Message, message.id).status in ("SENT", "DELIVERED", "READ")

    second.wait_for(recorded_sent, 10, "the row to record the send")


def test_the_browser_passes_for_a_desktop_chrome(start_worker, fresh_simulator):
    worker = start_worker()
    worker.wait_state("QR_REQUIRED", timeout=30)
    agents = [d["userAgent"] for d in fresh_simulator.state()["devices"] if d["userAgent"]]
    assert agents and all("Chrome/" in a and "Headless" not in a for a in agents), agents


def test_a_browser_over_its_memory_limit_is_restarted_on_the_same_profile(start_worker, fresh_simulator, events):
    worker = start_worker(BROWSER_MEMORY_LIMIT_MB="1")  # any real Chromium is over 1 MB
    recorder = events(worker.session)
    connect(worker, fresh_simulator)
    worker.wait_for(lambda: any(e.get("type") == "restart" and "memory" in (e.get("reason") or "")
                                for e in recorder.events), 60, "a restart for memory")

    def connected_after_restart():
        kinds = [(e.get("type"), e.get("state")) for e in recorder.events]
        first_restart = next(i for i, k in enumerate(kinds) if k[0] == "restart")
        return ("state", "CONNECTED") in kinds[first_restart + 1:]

    worker.wait_for(connected_after_restart, 60, "CONNECTED again after the restart")
    assert fresh_simulator.state()["linked"]  # same profile: linked again without a scan
