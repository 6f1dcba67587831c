"""Identical workers claim sessions (`-Q wa.claim`): each drives one session, a killed worker's session
is taken over within its lease on the same profile, and a worker frozen past its lease does not send
when it wakes. Real workers, real Chromium, the simulator; the claim pool is limited to each test's
sessions with CLAIM_SESSIONS."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from models import Message
from services.session_state import read_state
from tests.fixtures.worker import forget_session, launch_claiming_worker, session_processes, stop_workers
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LEASE = 9  # seconds (SESSION_LEASE_SECONDS): short, so the tests wait little for take-overs


class BrowserCounter:
    """Samples the main Chromium processes on each profile every 50 ms: the most ever seen at once.

    A process counts once it is seen as a main browser in two samples in a row: Chromium forks its
    helpers (zygote, crashpad) and the child carries the browser's command line until its exec, so
    one sample could catch a helper an instant before it becomes `--type=zygote` (CI saw 2 on a
    profile whose only browser had just started). A second browser lives for seconds, not 50 ms."""

    def __init__(self, tokens_dir: Path, names: list[str]):
        self.tokens_dir, self.names = tokens_dir, names
        self.most = {name: 0 for name in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        before: dict[str, set[int]] = {name: set() for name in self.names}
        while not self._stop.is_set():
            for name in self.names:
                mains = {p.pid for p in session_processes(self.tokens_dir, name)
                         if "chromium" in (p.info["cmdline"] or [""])[0]
                         and not any(a.startswith("--type=") for a in p.info["cmdline"])}
                self.most[name] = max(self.most[name], len(mains & before[name]))
                before[name] = mains
            self._stop.wait(0.05)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.most


@pytest.fixture
def claim_pool(fresh_simulator, tmp_path, committed_client, admin, redis_client):
    """-> (make sessions, start a claiming worker); everything is stopped and switched off after."""
    prefix = f"cl{uuid.uuid4().hex[:6]}"
    workers, names = [], []

    def make_sessions(*specs: dict) -> list[str]:
        for index, spec in enumerate(specs):
            name = f"{prefix}-{'abcdefgh'[index]}"
            forget_session(redis_client, name)
            answer = committed_client.post("/api/sessions", headers=admin, json={"name": name, **spec})
            assert answer.status_code == 201, answer.json
            names.append(name)
        return list(names)

    def start_worker(**env: str):
        worker = launch_claiming_worker(fresh_simulator, tmp_path, f"{prefix}-*", len(workers), redis_client,
                                        SESSION_LEASE_SECONDS=str(LEASE), **env)
        workers.append(worker)
        return worker

    yield make_sessions, start_worker
    stop_workers(workers, redis_client)
    for name in names:
        committed_client.patch(f"/api/sessions/{name}", headers=admin, json={"active": False})
        for proc in session_processes(tmp_path, name):
            proc.kill()
        forget_session(redis_client, name)


def driver_of(name: str) -> int | None:
    """The pid of the worker driving `name` now (alive heartbeat), else None."""
    state = read_state(name)
    return state["pid"] if state["alive"] else None


def link(sim, name: str) -> None:
    """Scan the QR this session shows (each session is a device of the simulated phone)."""
    qr = wait_until(lambda: (s := read_state(name))["alive"] and s["state"] == "QR_REQUIRED" and s["qr"],
                    90, f"{name} to show a QR")
    sim.scan(qr=qr)
    wait_until(lambda: read_state(name)["state"] == "CONNECTED", 60, f"{name} to connect")


def send(client, admin, name: str, text: str, number: str) -> str:
    answer = client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                         json={"phoneNumber": number, "message": text})
    assert answer.status_code == 202, answer.json
    return answer.json["data"]["messageId"]


def arrival_times(sim, text: str) -> list[float]:
    return sorted(m["receivedAt"] for m in sim.messages() if text in (m.get("body") or ""))


def test_two_workers_serve_two_of_three_sessions_and_a_restart_takes_a_killed_ones_over(
        claim_pool, fresh_simulator, committed_client, committed_db, admin, redis_client, tmp_path):
    sim = fresh_simulator
    make_sessions, start_worker = claim_pool
    intervals = {0: 1500, 1: 600}  # each session's own pacing, over the workers' SEND_* environment
    names = make_sessions({"sendMinIntervalMs": intervals[0], "sendJitterMs": 0},
                          {"sendMinIntervalMs": intervals[1], "sendJitterMs": 0}, {})
    counter = BrowserCounter(tmp_path, names)
    first, second = start_worker(SEND_MIN_INTERVAL_MS="50"), start_worker(SEND_MIN_INTERVAL_MS="50")

    # each worker claims one session; names sort the claims, so the third waits
    served = wait_until(lambda: len(d := {n: driver_of(n) for n in names[:2] if driver_of(n)}) == 2 and d,
                        90, "both workers to claim a session")
    assert set(served.values()) == {first.process.pid, second.process.pid}
    assert driver_of(names[2]) is None
    for name in names[:2]:
        link(sim, name)
    time.sleep(6)  # Chromium writes the login to disk up to 5 s after it changes; this test kills one

    # both claimed sessions send, each at its own pace; the third session's message waits
    tag = uuid.uuid4().hex[:8]
    ids = {name: [send(committed_client, admin, name, f"{tag} {name} {i}", f"33300300{index}{i}")
                  for i in range(3)] for index, name in enumerate(names)}
    for index, name in enumerate(names[:2]):
        times = wait_until(lambda n=name: len(t := arrival_times(sim, f"{tag} {n} ")) == 3 and t, 60,
                           f"the three messages of {name}")
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= intervals[index] / 1000, f"{name}: smallest gap {min(gaps):.3f} s"
    assert redis_client.llen(f"wa.{names[2]}") == 3  # queued for the session no worker holds yet
    assert arrival_times(sim, f"{tag} {names[2]} ") == []

    # kill -9 the worker driving the first session: a restart takes it over within the lease, on the
    # same profile (no scan), before the never-linked third session
    victim = first if served[names[0]] == first.process.pid else second
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    killed_at = time.monotonic()
    restart = start_worker(SEND_MIN_INTERVAL_MS="50")
    wait_until(lambda: driver_of(names[0]) == restart.process.pid and read_state(names[0])["state"] == "CONNECTED",
               LEASE + 60, "the restart to drive the killed worker's session, connected")
    takeover = time.monotonic() - killed_at
    assert takeover < LEASE + 30, f"take-over took {takeover:.1f} s"
    assert driver_of(names[2]) is None
    later = send(committed_client, admin, names[0], f"{tag} after take-over", "3330030099")
    wait_until(lambda: arrival_times(sim, f"{tag} after take-over"), 60, "a send by the new owner")

    # switching a session off frees its worker, which claims the session that waited
    holder = served[names[1]]
    assert committed_client.patch(f"/api/sessions/{names[1]}", headers=admin, json={"active": False}).status_code == 200
    wait_until(lambda: driver_of(names[2]) == holder and read_state(names[2])["state"] == "QR_REQUIRED", 90,
               "the freed worker to claim the third session")

    def settled(message_ids):
        committed_db.expire_all()
        rows = committed_db.query(Message).filter(Message.id.in_(message_ids)).all()
        return all(r.status in ("SENT", "DELIVERED", "READ") for r in rows)

    assert settled(ids[names[0]] + ids[names[1]] + [later])
    most = counter.stop()
    assert all(count <= 1 for count in most.values()), f"two browsers on one profile at once: {most}"
    assert most[names[0]] == most[names[1]] == 1  # the counter did see the browsers it watched
    assert os.path.isdir(tmp_path / names[0])


def test_a_worker_frozen_past_its_lease_does_not_send_when_it_wakes(
        claim_pool, fresh_simulator, committed_client, committed_db, admin):
    sim = fresh_simulator
    make_sessions, start_worker = claim_pool
    [name] = make_sessions({"sendMinIntervalMs": 12000, "sendJitterMs": 0})
    workers = [start_worker(), start_worker()]
    owner_pid = wait_until(lambda: driver_of(name), 90, "a worker to claim the session")
    owner = next(w for w in workers if w.process.pid == owner_pid)
    other = next(w for w in workers if w is not owner)
    link(sim, name)
    time.sleep(6)

    tag = uuid.uuid4().hex[:8]
    send(committed_client, admin, name, f"{tag} one", "3330040001")
    wait_until(lambda: arrival_times(sim, f"{tag} one"), 30, "the first message")
    second = send(committed_client, admin, name, f"{tag} two", "3330040002")

    def status(message_id):
        committed_db.expire_all()
        return committed_db.get(Message, uuid.UUID(message_id)).status

    # the owner has claimed the second message and waits out the 12 s pacing: freeze it there
    wait_until(lambda: status(second) == "SENDING", 20, "the owner to claim the second message")
    os.kill(owner.process.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: driver_of(name) == other.process.pid and read_state(name)["state"] == "CONNECTED",
                   LEASE + 60, "the other worker to take the session over")
        wait_until(lambda: status(second) in ("SENT", "DELIVERED", "READ"), 60,
                   "the new owner to reconcile and send the second message")
    finally:
        os.kill(owner.process.pid, signal.SIGCONT)
    # awake, the old owner finishes its pacing wait, finds its lease gone, and leaves the row alone
    owner.wait_for(lambda: "left to the session's owner" in owner.log(), 60, "the woken worker to stand down")
    assert len(arrival_times(sim, f"{tag} two")) == 1
    assert status(second) in ("SENT", "DELIVERED", "READ")
    assert driver_of(name) == other.process.pid
    owner.wait_for(lambda: "gives it up: the lease was lost" in owner.log(), 30, "the woken worker to let go")
    assert all(p.pid != owner.process.pid and p.ppid() != owner.process.pid
               for p in session_processes(owner.tokens_dir, name))
