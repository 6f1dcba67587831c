"""Issue 4's benchmark: /send ingest next to a bare insert+publish endpoint, the worker's overhead
per message with pacing off, the time to accept a 10,000-recipient bulk, and what the metrics cost /send.

    python -m tests.benchmarks bench_send      (or `make bench` for every benchmark)

Targets on the 2-core machine: /send >= 400 requests/s with p99 <= 50 ms and >= 0.5 of the bare
endpoint; worker overhead (task start -> arrival in the simulator) p50 <= 20 ms; a 10,000-recipient
bulk accepted in <= 2 s.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from tests.benchmarks.harness import (GUNICORN_ARGS, emit, gunicorn, load, median, percentile, prepare,
                                      redis_client)

BENCH = "send"
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))  # per round of the ingest benchmark
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WORKER_MESSAGES = int(os.environ.get("BENCH_WORKER_MESSAGES", "200"))
BULK_SIZE = 10_000


def _users() -> dict[str, str]:
    """A PROFESSIONAL (single sends) and an ADMIN (bulk), with real access tokens."""
    from flask_jwt_extended import create_access_token

    from core.db import db
    from models import User
    from models.enums import Role
    from web import create_app

    app = create_app()
    tokens = {}
    for role in (Role.PROFESSIONAL, Role.ADMIN):
        user = User(email=f"bench-{role.lower()}-{uuid.uuid4().hex[:6]}@example.com", password_hash="x",
                    role=role.value, active=True)
        db.add(user)
        db.commit()
        with app.app_context():
            tokens[role.value] = create_access_token(f"user:{user.id}", additional_claims={"role": user.role})
    db.remove()
    return tokens


def _empty_queues() -> None:
    client = redis_client()
    for key in client.scan_iter("wa.*"):
        client.delete(key)


def bench_ingest(tokens: dict[str, str]) -> None:
    """/send and the bare endpoint, both served at once, loaded in alternating rounds: the machine's
    speed drifts by tens of percent within minutes, and back-to-back rounds see the same drift.
    Each figure is the median over the rounds; the ratio is the median of each round's ratio."""
    body = {"phoneNumber": "3331234567", "message": "benchmark message"}
    runs = {"bare": [], "send": []}
    with gunicorn("tests.benchmarks.bare_app:create_app()") as bare_url, gunicorn("web:create_app()") as url:
        targets = {"bare": (bare_url + "/bare/send", ""), "send": (url + "/api/whatsapp/send", tokens["PROFESSIONAL"])}
        for target, token in targets.values():  # warm both (imports, caches, pooled connections)
            load(target, body, token, connections=CONNECTIONS, seconds=2, warmup=0)
        for _ in range(ROUNDS):
            for name, (target, token) in targets.items():
                runs[name].append(load(target, body, token, connections=CONNECTIONS, seconds=SECONDS, warmup=0))
    _empty_queues()

    def figure(name: str, key: str) -> float:
        return median([run[key] for run in runs[name]])

    errors = sum(run["errors"] for run in runs["send"])
    config = {"connections": CONNECTIONS, "rounds": ROUNDS, "seconds_per_round": SECONDS,
              "gunicorn": " ".join(GUNICORN_ARGS), "tool": runs["send"][0]["tool"]}
    rps, p99 = figure("send", "rps"), figure("send", "p99_ms")
    emit(BENCH, "send_rps", rps, ">=400", rps >= 400 and errors == 0, errors=errors,
         runs=[round(run["rps"]) for run in runs["send"]], **config)
    emit(BENCH, "send_p50_ms", figure("send", "p50_ms"), None, None)
    emit(BENCH, "send_p99_ms", p99, "<=50", p99 <= 50, runs=[round(run["p99_ms"], 1) for run in runs["send"]])
    emit(BENCH, "bare_rps", figure("bare", "rps"), None, None, errors=sum(run["errors"] for run in runs["bare"]),
         p50_ms=round(figure("bare", "p50_ms"), 2), p99_ms=round(figure("bare", "p99_ms"), 2),
         runs=[round(run["rps"]) for run in runs["bare"]])
    ratios = [ours["rps"] / bare["rps"] for ours, bare in zip(runs["send"], runs["bare"])]
    emit(BENCH, "send_vs_bare_ratio", median(ratios), ">=0.5", median(ratios) >= 0.5,
         runs=[round(ratio, 3) for ratio in ratios])


def bench_bulk(tokens: dict[str, str]) -> None:
    import requests

    recipients = [f"33{n:08d}" for n in range(10_000_000, 10_000_000 + BULK_SIZE)]
    timings = []
    with gunicorn("web:create_app()") as url:
        http = requests.Session()
        for run in range(3):
            started = time.perf_counter()
            answer = http.post(url + "/api/whatsapp/send-bulk", json={"recipients": recipients,
                                                                       "message": f"bulk {run}"},
                               headers={"Authorization": f"Bearer {tokens['ADMIN']}"}, timeout=60)
            timings.append(time.perf_counter() - started)
            if answer.status_code != 202 or len(answer.json()["data"]["queued"]) != BULK_SIZE:
                raise RuntimeError(f"bulk refused: {answer.status_code} {answer.text[:500]}")
    _empty_queues()
    emit(BENCH, "bulk_10000_accept_s", median(timings), "<=2", median(timings) <= 2,
         runs=[round(t, 3) for t in timings])


def bench_worker() -> None:
    """A real worker (headless Chromium) on the simulator, pacing off; N messages queued at once,
    then per message: `sending_at` (the claim, the task's first step) -> `receivedAt` in the simulator."""
    from sqlalchemy import select

    from core.db import db
    from models import Message
    from services import contacts, messages
    from services.phones import check_number
    from tests.fixtures.simulator import start_simulator, stop_simulator
    from tests.fixtures.worker import forget_session, launch_worker, stop_workers

    session = "bench"
    client = redis_client()
    forget_session(client, session)
    sim = start_simulator()
    workers = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tokens_dir:
            workers.append(launch_worker(sim, Path(tokens_dir), session, 0, client, SEND_MIN_INTERVAL_MS="0",
                                         SEND_JITTER_MS="0", SEND_MAX_PER_SECOND="1000", LOG_LEVEL="INFO"))
            workers[0].wait_state("QR_REQUIRED", timeout=60)
            sim.scan()
            workers[0].wait_state("CONNECTED", timeout=60)
            for cached, first in ((False, 3401000000), (True, 3402000000)):
                numbers = [check_number(str(first + i), "IT") for i in range(WORKER_MESSAGES)]
                if cached:  # known to be on WhatsApp: the courier skips the existence query
                    for phone in numbers:
                        contacts.record_existence(db, phone.formatted, True)
                    db.commit()
                tag = uuid.uuid4().hex[:8]
                ids = []
                for i, phone in enumerate(numbers):
                    ids += [queued.id for queued in messages.enqueue(
                        db, session_name=session, phones=[phone], bodies=f"bench {tag} {i}", user_id=None)]
                db.commit()  # publishes every task
                deadline = time.monotonic() + 60 + WORKER_MESSAGES * 0.5
                while True:
                    arrived = {m["body"]: m["receivedAt"] for m in sim.messages() if tag in (m["body"] or "")}
                    if len(arrived) == WORKER_MESSAGES:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {len(arrived)} of {WORKER_MESSAGES} messages arrived; "
                                           f"worker log:\n{workers[0].log()[-3000:]}")
                    workers[0].wait_for(lambda: True, 1, "worker alive")
                    time.sleep(0.5)
                db.expire_all()
                rows = {r.id: r for r in db.scalars(select(Message).where(Message.id.in_(ids)))}
                overheads = [(arrived[rows[mid].body] - rows[mid].sending_at.timestamp()) * 1000 for mid in ids]
                span = max(arrived.values()) - min(r.sending_at for r in rows.values()).timestamp()
                label = "cached" if cached else "uncached"
                target, ok = ("<=20", percentile(overheads, 50) <= 20) if cached else (None, None)
                emit(BENCH, f"worker_overhead_p50_ms_{label}", percentile(overheads, 50), target, ok,
                     messages=WORKER_MESSAGES)
                emit(BENCH, f"worker_overhead_p99_ms_{label}", percentile(overheads, 99), None, None)
                emit(BENCH, f"worker_throughput_per_s_{label}", WORKER_MESSAGES / span, None, None)
                db.remove()
    finally:
        stop_workers(workers, client)
        stop_simulator(sim)
        db.remove()


def bench_metrics(tokens: dict[str, str]) -> None:
    """What the metrics cost /send: the real app in production's multiprocess mode (every process
    writing its values to PROMETHEUS_MULTIPROC_DIR) against the same app with the metrics hooks
    removed (tests/benchmarks/unmetered_app.py), served at once, loaded in alternating rounds."""
    body = {"phoneNumber": "3331234567", "message": "benchmark message"}
    runs = {"unmetered": [], "metered": []}
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as multiproc:
        metered_env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": multiproc, "METRICS_TOKEN": "bench-" + "x" * 20}
        with gunicorn("tests.benchmarks.unmetered_app:create_app()") as plain_url, \
                gunicorn("web:create_app()", env=metered_env) as metered_url:
            targets = {"unmetered": plain_url + "/api/whatsapp/send", "metered": metered_url + "/api/whatsapp/send"}
            for target in targets.values():
                load(target, body, tokens["PROFESSIONAL"], connections=CONNECTIONS, seconds=2, warmup=0)
            for _ in range(ROUNDS):
                for name, target in targets.items():
                    runs[name].append(load(target, body, tokens["PROFESSIONAL"], connections=CONNECTIONS,
                                           seconds=SECONDS, warmup=0))
            import requests

            started = time.perf_counter()
            scrape = requests.get(metered_url + "/metrics", headers={"Authorization": f"Bearer {metered_env['METRICS_TOKEN']}"},
                                  timeout=30)
            scrape_ms = (time.perf_counter() - started) * 1000
    _empty_queues()
    ratios = [m["rps"] / u["rps"] for m, u in zip(runs["metered"], runs["unmetered"])]
    for name in runs:
        emit(BENCH, f"metrics_{name}_send_rps", median([r["rps"] for r in runs[name]]), None, None,
             p50_ms=round(median([r["p50_ms"] for r in runs[name]]), 2),
             p99_ms=round(median([r["p99_ms"] for r in runs[name]]), 2),
             errors=sum(r["errors"] for r in runs[name]), runs=[round(r["rps"]) for r in runs[name]])
    p50_cost = median([m["p50_ms"] - u["p50_ms"] for m, u in zip(runs["metered"], runs["unmetered"])])
    emit(BENCH, "metrics_cost_rps_ratio", median(ratios), ">=0.95", median(ratios) >= 0.95,
         runs=[round(ratio, 3) for ratio in ratios])
    emit(BENCH, "metrics_cost_p50_ms", p50_cost, None, None)
    emit(BENCH, "metrics_scrape_ms", scrape_ms, None, None, status=scrape.status_code, bytes=len(scrape.content))
    emit(BENCH, "metrics_us_per_request", _hooks_cost(), None, None,
         what="the counters and histogram one /send touches, multiprocess mode, best of 5 x 20,000")


HOOKS_COST = """
import timeit
from core import metrics
def one():
    metrics.HTTP_REQUESTS.labels("POST", "/api/whatsapp/send", "202").inc()
    metrics.HTTP_DURATION.labels("POST", "/api/whatsapp/send").observe(0.012)
    metrics.count_status("bench", "QUEUED", number=1)
print(min(timeit.repeat(one, number=20000, repeat=5)) / 20000 * 1e6)
"""


def _hooks_cost() -> float:
    """The instrumentation's own CPU per /send, apart from the machine's drift: a fresh process
    (PROMETHEUS_MULTIPROC_DIR must be set before prometheus-client is imported)."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as multiproc:
        out = subprocess.run([sys.executable, "-c", HOOKS_COST], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": multiproc},
                             capture_output=True, text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


PARTS = ("ingest", "bulk", "worker", "metrics")


def main() -> None:
    prepare()
    parts = os.environ.get("BENCH_SEND_PARTS", ",".join(PARTS)).split(",")  # to run one part alone
    tokens = _users()
    if "ingest" in parts:
        bench_ingest(tokens)
    if "bulk" in parts:
        bench_bulk(tokens)
    if "worker" in parts:
        bench_worker()
    if "metrics" in parts:
        bench_metrics(tokens)


if __name__ == "__main__":
    main()
