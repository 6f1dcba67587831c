"""Issue 15's benchmark: memory per WhatsApp session and a worker's time to CONNECTED, on the simulator.

    python -m tests.benchmarks bench_sessions      (or `make bench` for every benchmark)

Each session is its own `celery -A worker worker -Q wa.<name>,wa.<name>.bulk` process (as the tests
launch it) driving its own headless Chromium. Sessions are added one by one (fresh profile, QR
scanned as soon as it shows) up to 1, 3 and 5; at each count, once every session is CONNECTED and
has been idle for BENCH_SESSION_IDLE_SECONDS, the memory of each worker's whole process tree
(the Python worker, chromedriver, every Chromium process) is read as PSS from
/proc/<pid>/smaps_rollup: pages shared between processes (Chromium's code, the zygote's pages) are
split between them, so the per-session figure is what one more session costs the host, and it
falls as more sessions share the same binaries (and when other browsers run on the host: the
anonymous part, also printed, is each session's own). The linked-profile start is measured with
one session: stop its worker cleanly, start a new one on the same profile, time to CONNECTED. CPU
is printed for idle sessions and while all of them send at the default pacing.

Target: at most 350 MB per session. The simulator's page is tiny next to the real WhatsApp Web
(whose renderer alone holds hundreds of MB on a busy account): these figures are the gateway's own
cost per session, a floor, not what a session costs on web.whatsapp.com.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from tests.benchmarks.harness import emit, median, prepare, redis_client

BENCH = "sessions"
COUNTS = tuple(int(n) for n in os.environ.get("BENCH_SESSION_COUNTS", "1,3,5").split(","))
IDLE_SECONDS = float(os.environ.get("BENCH_SESSION_IDLE_SECONDS", "10"))
RESTARTS = int(os.environ.get("BENCH_SESSION_RESTARTS", "3"))
MESSAGES = int(os.environ.get("BENCH_SESSION_MESSAGES", "20"))  # per session, at the default pacing
TARGET_MB = 350
ROLLUP_FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Clean", "Private_Dirty")


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """The kB figures of /proc/<pid>/smaps_rollup, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    values = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ROLLUP_FIELDS:
            values[name] = int(rest.split()[0])
    return values


def process_kind(proc: psutil.Process, worker_pid: int) -> str:
    """worker, chromedriver, or the Chromium process type (browser, renderer, gpu-process, zygote,
    utility:<service>, crashpad-handler)."""
    if proc.pid == worker_pid:
        return "worker"
    cmdline = proc.cmdline()
    if cmdline and Path(cmdline[0]).name == "chromedriver":
        return "chromedriver"
    kind = _switch(cmdline, "--type", "browser")
    if kind == "utility":
        kind = "utility:" + _switch(cmdline, "--utility-sub-type", "?").split(".")[0]
    return kind


def _switch(cmdline: list[str], name: str, default: str) -> str:
    return next((arg.split("=", 1)[1] for arg in cmdline if arg.startswith(name + "=")), default)


def session_tree(worker) -> list[psutil.Process]:
    """The worker process and every descendant (the worker is Chromium's child subreaper, so even
    the double-forked ones are), plus anything still found on the session's profile."""
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(worker.process.pid)
        for proc in (root, *root.children(recursive=True)):
            found[proc.pid] = proc
    except psutil.NoSuchProcess:
        pass
    for proc in worker.processes():
        found.setdefault(proc.pid, proc)
    return list(found.values())


def session_memory(worker) -> dict:
    """PSS (and RSS) of one session's process tree, in MB, by part and by process kind."""
    by_kind: dict[str, float] = {}
    parts = {"worker": 0.0, "chromedriver": 0.0, "chromium": 0.0}
    total = {name: 0.0 for name in ROLLUP_FIELDS}
    processes = 0
    counts: dict[str, int] = {}
    anon: dict[str, float] = {}
    for proc in session_tree(worker):
        try:
            kind = process_kind(proc, worker.process.pid)
        except psutil.NoSuchProcess:
            continue
        rollup = smaps_rollup(proc.pid)
        if rollup is None:
            continue
        processes += 1
        pss = rollup["Pss"] / 1024
        by_kind[kind] = by_kind.get(kind, 0.0) + pss
        counts[kind] = counts.get(kind, 0) + 1
        anon[kind] = anon.get(kind, 0.0) + rollup["Pss_Anon"] / 1024
        parts[kind if kind in ("worker", "chromedriver") else "chromium"] += pss
        for name in ROLLUP_FIELDS:
            total[name] += rollup.get(name, 0) / 1024
    return {"pss": total["Pss"], "rss": total["Rss"], "anon": total["Pss_Anon"], "file": total["Pss_File"],
            "shmem": total["Pss_Shmem"], "private": total["Private_Clean"] + total["Private_Dirty"],
            "parts": parts, "by_kind": by_kind, "processes": processes,
            "counts": counts, "anon_by_kind": anon}


def tree_cpu_seconds(workers) -> float:
    total = 0.0
    for worker in workers:
        for proc in session_tree(worker):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def start_fresh(sim, tokens_dir: Path, session: str, index: int, client):
    """A worker on an empty profile, its QR scanned as soon as it shows. -> (worker, to QR, to CONNECTED)."""
    from tests.fixtures.worker import forget_session, launch_worker

    forget_session(client, session)
    started = time.monotonic()
    worker = launch_worker(sim, tokens_dir, session, index, client)
    worker.wait_state("QR_REQUIRED", timeout=120)
    to_qr = time.monotonic() - started
    sim.scan()
    worker.wait_state("CONNECTED", timeout=120)
    return worker, to_qr, time.monotonic() - started


def start_linked(sim, tokens_dir: Path, session: str, index: int, client):
    """A worker on a profile the phone has linked already. -> (worker, seconds to CONNECTED)."""
    from tests.fixtures.worker import launch_worker

    started = time.monotonic()
    worker = launch_worker(sim, tokens_dir, session, index, client)
    worker.wait_state("CONNECTED", timeout=120)
    return worker, time.monotonic() - started


def measure(workers) -> None:
    """Let every session idle, then emit the memory per session and the idle CPU per session."""
    cpu_before, wall_before = tree_cpu_seconds(workers), time.monotonic()
    time.sleep(IDLE_SECONDS)  # the figure is of idle sessions: nothing here waits for an absence
    cpu_percent = (tree_cpu_seconds(workers) - cpu_before) / (time.monotonic() - wall_before) * 100
    for worker in workers:
        state = worker.raw_state().get("state")
        if state != "CONNECTED":
            raise RuntimeError(f"session {worker.session} is {state}, not CONNECTED:\n{worker.log()[-3000:]}")
    memories = [session_memory(worker) for worker in workers]
    count = len(workers)

    def mean(pick) -> float:
        return round(sum(pick(m) for m in memories) / count, 1)

    kinds = sorted({kind for m in memories for kind in m["by_kind"]})
    per_session = sum(m["pss"] for m in memories) / count
    emit(BENCH, f"pss_mb_per_session_{count}_sessions", per_session, f"<={TARGET_MB}",
         per_session <= TARGET_MB, sessions=count, worst_mb=round(max(m["pss"] for m in memories), 1),
         worker_mb=mean(lambda m: m["parts"]["worker"]),
         chromedriver_mb=mean(lambda m: m["parts"]["chromedriver"]),
         chromium_mb=mean(lambda m: m["parts"]["chromium"]), rss_mb=mean(lambda m: m["rss"]),
         private_mb=mean(lambda m: m["private"]), anon_mb=mean(lambda m: m["anon"]),
         file_mb=mean(lambda m: m["file"]), shmem_mb=mean(lambda m: m["shmem"]),
         processes=mean(lambda m: m["processes"]),
         anon_by_kind={kind: mean(lambda m, k=kind: m["anon_by_kind"].get(k, 0.0)) for kind in kinds},
         process_counts={kind: mean(lambda m, k=kind: m["counts"].get(k, 0)) for kind in kinds},
         by_kind={kind: mean(lambda m, k=kind: m["by_kind"].get(k, 0.0)) for kind in kinds},
         idle_seconds=IDLE_SECONDS)
    emit(BENCH, f"idle_cpu_percent_of_a_core_per_session_{count}_sessions", cpu_percent / count, None,
         None, sessions=count, total_percent=round(cpu_percent, 1))


def measure_sending(sim, workers) -> None:
    """Every session sends MESSAGES (recipients known to be on WhatsApp) at the default pacing, all
    sessions at once: the CPU a sending session costs, next to an idle one."""
    from core.db import db
    from services import contacts, messages
    from services.phones import check_number

    tag = uuid.uuid4().hex[:8]
    try:
        for index, worker in enumerate(workers):
            numbers = [check_number(str(3405000000 + index * 1000 + i), "IT") for i in range(MESSAGES)]
            for phone in numbers:
                contacts.record_existence(db, phone.formatted, True)
            for i, phone in enumerate(numbers):
                messages.enqueue(db, session_name=worker.session, phones=[phone], bodies=f"bench {tag} {i}",
                                 user_id=None)
        cpu_before, started = tree_cpu_seconds(workers), time.monotonic()
        db.commit()  # publishes every task
        expected = MESSAGES * len(workers)
        arrived = workers[0].wait_for(
            lambda: (n := sum(tag in (m["body"] or "") for m in sim.messages())) == expected and n,
            60 + MESSAGES * 3, f"{expected} messages in the simulator")
        elapsed = time.monotonic() - started
        cpu_percent = (tree_cpu_seconds(workers) - cpu_before) / elapsed * 100
    finally:
        db.remove()
    count = len(workers)
    emit(BENCH, f"sending_cpu_percent_of_a_core_per_session_{count}_sessions", cpu_percent / count, None,
         None, sessions=count, messages=arrived, seconds=round(elapsed, 1),
         messages_per_s_per_session=round(arrived / elapsed / count, 2))


def main() -> None:
    from tests.fixtures.simulator import start_simulator, stop_simulator
    from tests.fixtures.worker import stop_workers

    prepare()
    client = redis_client()
    sim = start_simulator()
    workers: list = []
    fresh, to_qr, linked = [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tokens:
            tokens_dir = Path(tokens)
            for count in sorted(COUNTS):
                while len(workers) < count:
                    worker, qr_seconds, seconds = start_fresh(sim, tokens_dir, f"bench{len(workers) + 1}",
                                                              len(workers), client)
                    workers.append(worker)
                    to_qr.append(qr_seconds)
                    fresh.append(seconds)
                measure(workers)
                if count == max(COUNTS) and MESSAGES:
                    measure_sending(sim, workers)
                if count == min(COUNTS):
                    # restart the first session on its linked profile; measure() idled past the
                    # 5 s Chromium may take to write the login to disk, and so does each restart
                    for restart in range(RESTARTS):
                        workers[0].stop()
                        workers[0], seconds = start_linked(sim, tokens_dir, workers[0].session,
                                                           100 + restart, client)
                        linked.append(seconds)
                        time.sleep(6)
            emit(BENCH, "start_to_connected_s_fresh_profile_and_scan", median(fresh), None, None,
                 runs=[round(s, 1) for s in fresh], start_to_qr_s=round(median(to_qr), 1))
            if linked:
                emit(BENCH, "start_to_connected_s_linked_profile", median(linked), None, None,
                     runs=[round(s, 1) for s in linked])
            stop_workers(workers, client)
            workers = []
    finally:
        stop_workers(workers, client)
        stop_simulator(sim)


if __name__ == "__main__":
    main()
