"""Issue 18's benchmark: `/send` with `Prefer: wait=10` answered 200 once the message is sent, and
`/send` without the header while 100 requests wait.

    python -m tests.benchmarks bench_wait      (or `make bench` for every benchmark)

A real worker on the simulator with pacing off sends the waiting messages (the number's WhatsApp
check cached, as after its first send). The API runs as the image does (`gunicorn.conf.py`: 4
workers of 32 threads, `BENCH_WAIT_GUNICORN` to change it). Figures: p50/p99 from the request to
its 200; then /send throughput (wrk, as bench_send) in alternating rounds alone and while
`BENCH_WAITERS` (100) requests wait 30 s on a session no worker serves, with the database
connections in use while they wait (target 0).
"""
from __future__ import annotations

import collections
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

from tests.benchmarks.harness import emit, gunicorn, load, median, percentile, prepare, redis_client

BENCH = "wait"
REQUESTS = int(os.environ.get("BENCH_WAIT_REQUESTS", "100"))
WAITERS = int(os.environ.get("BENCH_WAITERS", "100"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_WAIT_ROUNDS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
GUNICORN_ARGS = os.environ.get("BENCH_WAIT_GUNICORN", "-w 4 --threads 64 -k gthread").split()
# the image's settings before issue 18, loaded in the same rounds: what the extra threads cost
BASELINE_ARGS = os.environ.get("BENCH_WAIT_BASELINE_GUNICORN", "-w 4 --threads 4 -k gthread").split()
SESSION, IDLE = "benchwait", "benchidle"
NUMBER = "393401234567"


def _busy_connections(api_pids: set[int]) -> list[str]:
    """The API's connections to the bench database in use (running a statement or inside a
    transaction): a pooled connection waiting in its pool is `idle`. -> their state and query."""
    import psutil
    from sqlalchemy import text

    from core.db import db

    # the API's connections are those whose client port belongs to a gunicorn process
    ports = {c.laddr.port for pid in api_pids for c in psutil.Process(pid).net_connections("tcp")
             if c.raddr and c.raddr.port == 5432}
    try:
        rows = db.execute(text("SELECT client_port, state, left(query, 60) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND state <> 'idle'")).all()
        return [f"{state}: {query}" for port, state, query in rows if port in ports]
    finally:
        db.remove()


def _queued(tag: str) -> int:
    from sqlalchemy import func, select

    from core.db import db
    from models import Message

    try:
        return db.scalar(select(func.count()).select_from(Message).where(Message.body == tag))
    finally:
        db.remove()


def _wait_latencies(url: str, token: str) -> list[float]:
    import requests

    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait=10"}
    latencies = []
    for i in range(REQUESTS):
        started = time.perf_counter()
        answer = http.post(url + "/api/whatsapp/send", json={"phoneNumber": NUMBER, "message": f"wait {i}"},
                           headers=headers, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200 or answer.headers.get("Preference-Applied") != "wait=10":
            raise RuntimeError(f"request {i}: {answer.status_code} {answer.headers} {answer.text[:300]}")
    return latencies


def _open_waiters(url: str, token: str, tag: str) -> tuple[list[threading.Thread], list]:
    """WAITERS requests with Prefer: wait=30 on the session no worker serves: each waits its 30 s."""
    import requests

    answers: list = []
    lock = threading.Lock()

    def wait_one():
        answer = requests.post(url + f"/api/whatsapp/send?session={IDLE}", timeout=60,
                               json={"phoneNumber": NUMBER, "message": tag},
                               headers={"Authorization": f"Bearer {token}", "Prefer": "wait=30"})
        with lock:
            answers.append((answer.status_code, answer.headers.get("Preference-Applied")))

    def wait_one_safely():
        try:
            wait_one()
        except Exception as exc:  # noqa: BLE001 - counted as not applied
            with lock:
                answers.append((type(exc).__name__, None))

    threads = [threading.Thread(target=wait_one_safely, daemon=True) for _ in range(WAITERS)]
    for thread in threads:
        thread.start()
    return threads, answers


def _server_pids(url: str) -> set[int]:
    """The gunicorn master serving `url` and its workers."""
    import psutil

    bind = url.removeprefix("http://")
    for process in psutil.process_iter(["cmdline"]):
        if bind in (process.info["cmdline"] or []):
            return {process.pid, *(child.pid for child in process.children())}
    raise RuntimeError(f"no gunicorn serves {url}")


def main() -> None:
    import requests

    from core.db import db
    from services import contacts
    from tests.benchmarks.bench_send import _empty_queues, _users
    from tests.fixtures.simulator import start_simulator, stop_simulator
    from tests.fixtures.worker import forget_session, launch_worker, stop_workers

    prepare()
    tokens = _users()
    client = redis_client()
    forget_session(client, SESSION)
    contacts.record_existence(db, NUMBER, True)  # as after the number's first send
    db.commit()
    db.remove()
    sim = start_simulator()
    workers = []
    env = {**os.environ, "SESSION_NAME": SESSION}  # the API's default session is the worker's
    config = {"gunicorn": " ".join(GUNICORN_ARGS)}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tokens_dir:
            workers.append(launch_worker(sim, Path(tokens_dir), SESSION, 0, client, SEND_MIN_INTERVAL_MS="0",
                                         SEND_JITTER_MS="0", SEND_MAX_PER_SECOND="1000"))
            workers[0].wait_state("QR_REQUIRED", timeout=60)
            sim.scan()
            workers[0].wait_state("CONNECTED", timeout=60)
            with gunicorn("web:create_app()", args=GUNICORN_ARGS, env=env) as url, \
                    gunicorn("web:create_app()", args=BASELINE_ARGS, env=env) as baseline_url:
                _wait_latencies(url, tokens["PROFESSIONAL"])  # warm: imports, pools, listeners
                latencies = _wait_latencies(url, tokens["PROFESSIONAL"])
                emit(BENCH, "send_wait10_p50_ms", percentile(latencies, 50), None, None, requests=REQUESTS,
                     **config)
                emit(BENCH, "send_wait10_p99_ms", percentile(latencies, 99), None, None)

                created = requests.post(url + "/api/sessions", json={"name": IDLE}, timeout=10,
                                        headers={"Authorization": f"Bearer {tokens['ADMIN']}"})
                if created.status_code not in (201, 409):
                    raise RuntimeError(f"could not create {IDLE}: {created.text[:300]}")
                path, token = f"/api/whatsapp/send?session={IDLE}", tokens["PROFESSIONAL"]
                body = {"phoneNumber": NUMBER, "message": "benchmark message"}
                for server in (url, baseline_url):
                    load(server + path, body, token, connections=CONNECTIONS, seconds=2, warmup=0)
                api_pids = _server_pids(url)
                runs = {"baseline": [], "alone": [], "waiting": []}
                held, applied, outcomes = [], [], []
                for _ in range(ROUNDS):
                    runs["baseline"].append(load(baseline_url + path, body, token, connections=CONNECTIONS,
                                                 seconds=SECONDS, warmup=0))
                    runs["alone"].append(load(url + path, body, token, connections=CONNECTIONS, seconds=SECONDS,
                                              warmup=0))
                    tag = f"waiter {uuid.uuid4().hex[:8]}"
                    threads, answers = _open_waiters(url, token, tag)
                    deadline = time.monotonic() + 30
                    while _queued(tag) < WAITERS:  # every waiting request's row is committed: they wait
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"only {_queued(tag)} of {WAITERS} waiting requests queued; "
                                               f"answers: {collections.Counter(answers)}")
                        time.sleep(0.2)
                    held.append(_busy_connections(api_pids))
                    runs["waiting"].append(load(url + path, body, token, connections=CONNECTIONS, seconds=SECONDS,
                                                warmup=0))
                    for thread in threads:
                        thread.join(60)
                    applied.append(sum(1 for status, pref in answers if status == 202 and pref == "wait=30"))
                    outcomes.append({f"{status} {pref}": n for (status, pref), n in collections.Counter(answers).items()})
                _empty_queues()
        for name, label, args in (("baseline", "send_rps_threads4_alone", BASELINE_ARGS),
                                  ("alone", "send_rps_alone", GUNICORN_ARGS),
                                  ("waiting", f"send_rps_with_{WAITERS}_waiting", GUNICORN_ARGS)):
            emit(BENCH, label, median([r["rps"] for r in runs[name]]), None, None,
                 runs=[round(r["rps"]) for r in runs[name]],
                 p50_ms=round(median([r["p50_ms"] for r in runs[name]]), 1),
                 p99_ms=round(median([r["p99_ms"] for r in runs[name]]), 1),
                 errors=sum(r["errors"] for r in runs[name]), connections=CONNECTIONS, gunicorn=" ".join(args))
        ratio = median([w["rps"] / a["rps"] for a, w in zip(runs["alone"], runs["waiting"])])
        emit(BENCH, "send_rps_waiting_vs_alone", ratio, ">=0.9", ratio >= 0.9,
             runs=[round(w["rps"] / a["rps"], 3) for a, w in zip(runs["alone"], runs["waiting"])])
        emit(BENCH, "waiting_requests_applied", min(applied), f"{WAITERS}", min(applied) == WAITERS, runs=applied,
             answers=outcomes)
        busy = max(len(h) for h in held)
        emit(BENCH, f"db_connections_busy_while_{WAITERS}_wait", busy, "0", busy == 0, runs=held)
    finally:
        stop_workers(workers, client)
        stop_simulator(sim)
        db.remove()


if __name__ == "__main__":
    main()
