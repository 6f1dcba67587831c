"""Issue 12's soak of the event path: a real worker (headless Chromium) on the simulator repeats
send -> acks -> incoming BENCH_EVENT_ROUNDS times (default 300) with acks drawn per message before
and after the send's commit, then counts every message event the page was handed against the row
change it must cause (tests/event_soak.py).

    python -m tests.benchmarks bench_events      (or `make bench` for every benchmark)

Target: 0 events lost. Also printed: the slowest event's delay (the page fetched it -> its row
changed in PostgreSQL) and the median.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.benchmarks.harness import emit, median, percentile, prepare, redis_client

BENCH = "events"
ROUNDS = int(os.environ.get("BENCH_EVENT_ROUNDS", "300"))


def main() -> None:
    prepare()
    from core.db import db
    from tests.event_soak import RANDOM_ACKS, WORKER_ENV, run_soak
    from tests.fixtures.simulator import start_simulator, stop_simulator
    from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers

    session = "bench-events"
    client = redis_client()
    forget_session(client, session)
    sim = start_simulator()
    workers = []
    try:
        sim.config(autoAck=RANDOM_ACKS)
        with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tokens_dir:
            workers.append(launch_linked_worker(sim, Path(tokens_dir), session, 0, client, LOG_LEVEL="INFO",
                                                **WORKER_ENV))
            report = run_soak(sim, session, ROUNDS, first_number=3403000000)
    finally:
        stop_workers(workers, client)
        stop_simulator(sim)
        db.remove()
    delays = [delay * 1000 for delay, _ in report.delays]
    emit(BENCH, "events_lost", len(report.lost), "0", not report.lost, events=report.events, rounds=ROUNDS,
         parked_left=report.parked_left, first_lost=report.lost[:3])
    slowest = report.slowest
    emit(BENCH, "slowest_event_delay_ms", max(delays, default=float("nan")), None, None,
         event=slowest[1]["name"] if slowest else None, ack=slowest[1]["ack"] if slowest else None)
    emit(BENCH, "event_delay_p50_ms", median(delays) if delays else float("nan"), None, None,
         p99_ms=round(percentile(delays, 99), 1))


if __name__ == "__main__":
    main()
