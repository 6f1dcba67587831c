"""What every benchmark shares: the bench environment, its database, JSON figures, gunicorn and
the load generator (wrk when installed, else a small Python one). Not a `bench_*` module itself."""
from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
BENCH_ENV = {
    "DATABASE_URL": "postgresql+psycopg://root@127.0.0.1:5432/wagateway_bench",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
    "ENVIRONMENT": "bench",
    "JWT_SECRET": "bench-secret-that-is-long-enough-for-hs256",
    "JWT_ACCESS_MINUTES": "120",
    "LOG_LEVEL": "WARNING",
    # the limiter stays on (its cost is part of /send) but must not refuse the load
    "RATE_LIMIT_DEFAULT": "10000000/minute",
}
_PREPARED = "WAGATEWAY_BENCH_PREPARED"


def prepare() -> None:
    """Set the bench environment (before any project module reads settings), then build the
    database with `alembic upgrade head` and empty Redis db 14. Once per process tree."""
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    if os.environ.get(_PREPARED):
        return
    from tests.fixtures.db import recreate_database, run_alembic

    url = os.environ["DATABASE_URL"]
    recreate_database(url)
    run_alembic(url, "upgrade", "head")
    redis_client().flushdb()
    os.environ[_PREPARED] = "1"


@contextmanager
def using_database(url: str) -> Iterator[None]:
    """The process's sessions (core.db.db) talk to `url` inside, to the bench database again after:
    the benchmarks share one process, and a later one must not write its users elsewhere."""
    from sqlalchemy import create_engine

    from core.db import db

    engine = create_engine(url)
    db.remove()
    db.configure(bind=engine)
    try:
        yield
    finally:
        db.remove()
        db.configure(bind=None)  # None: the engine of the settings (core.db)
        engine.dispose()


def redis_client():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def emit(bench: str, figure: str, value, target: str | None = None, ok: bool | None = None, **extra) -> dict:
    """Print one figure as one JSON line (and return it)."""
    line = {"bench": bench, "figure": figure,
            "value": round(value, 3) if isinstance(value, float) else value, "target": target, "ok": ok, **extra}
    print(json.dumps(line), flush=True)
    return line


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def get_times_ms(client, path: str, headers: dict, requests: int) -> list[float]:
    """Milliseconds of each of `requests` GETs of `path` through a Flask test client, after one
    warm-up; any answer but 200 stops the benchmark (a fast error is no figure)."""
    client.get(path, headers=headers)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not listening yet, or its workers still booting
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# gunicorn on 2 cores, measured with both endpoints interleaved (README "Benchmarks"):
# - a gthread worker accepts every connection it can, so wrk's 16 keep-alive connections landed
#   unevenly (seen: 1/15, 2/5/9, all 16 on one worker, which then had one core for all the load)
#   and the same code measured anywhere between 440 and 700 requests/s. Six connections at most
#   per worker spreads them 5/5/6 on every run;
# - threads of one worker contend for its GIL: 3 workers of 1 thread beat 3 of 4 threads
#   (/send p99 35 against 63 ms, 786 against 523 requests/s), and 2 of 2 or 4 of 1.
GUNICORN_ARGS = os.environ.get("BENCH_GUNICORN", "-w 3 --threads 1 -k gthread --worker-connections 6").split()


@contextmanager
def gunicorn(app_spec: str, args: list[str] | None = None, env: dict[str, str] | None = None,
             log_path: Path | None = None) -> Iterator[str]:
    """`gunicorn app_spec` on a free loopback port with the bench environment (or `env`); yields its
    base URL. Its output goes to `log_path` when given (kept, for a test to show), else to a
    temporary file removed afterwards."""
    port = free_port()
    log = open(log_path, "w+") if log_path else tempfile.NamedTemporaryFile(
        "w+", prefix="bench-gunicorn-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), *(args or GUNICORN_ARGS), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", app_spec],
        cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/api/health", process=process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        if not log_path:
            os.unlink(log.name)


WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local count = 0
response = function(status, headers, body)
  count = count + 1
  if count >= %(max_per_thread)d then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def load(url: str, body: dict, token: str, *, connections: int, seconds: float,
         max_requests: int = 200_000, warmup: float = 2.0) -> dict:
    """POST `body` to `url` from `connections` keep-alive clients for `seconds` (at most
    `max_requests`). -> {rps, p50_ms, p99_ms, requests, errors, tool}."""
    if warmup:
        _load(url, body, token, connections=connections, seconds=warmup, max_requests=max_requests)
    return _load(url, body, token, connections=connections, seconds=seconds, max_requests=max_requests)


def _load(url, body, token, *, connections, seconds, max_requests) -> dict:
    if shutil.which("wrk"):
        return _wrk(url, body, token, connections, seconds, max_requests)
    return _python_load(url, body, token, connections, seconds, max_requests)


def _wrk(url, body, token, connections, seconds, max_requests) -> dict:
    threads = 1  # one core for the load generator would starve the server on this 2-core machine
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"body": json.dumps(body), "token": token,
                                    "max_per_thread": max(1, max_requests // threads)})
    try:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                              "--timeout", "5s", "-s", script.name, url],
                             capture_output=True, text=True, timeout=seconds + 30)
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stdout[-1000:]} {out.stderr[-1000:]}")
        out = out.stdout
    finally:
        os.unlink(script.name)
    data = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON "))[8:])
    errors = sum(data[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    return {"rps": data["requests"] / (data["duration_us"] / 1e6), "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000, "requests": data["requests"], "errors": errors, "tool": "wrk"}


def _python_load(url, body, token, connections, seconds, max_requests) -> dict:
    """The fallback load generator: a subprocess (so it does not share our GIL) of keep-alive
    http.client threads. Slower than wrk: its own CPU use lowers the figures a little."""
    code = PY_LOADGEN
    result = subprocess.run([sys.executable, "-c", code, url, json.dumps(body), token, str(connections),
                             str(seconds), str(max_requests)],
                            capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


PY_LOADGEN = r"""
import http.client, json, sys, threading, time
from urllib.parse import urlsplit
url, body, token, conns, seconds, max_requests = sys.argv[1], sys.argv[2].encode(), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
parts = urlsplit(url)
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
latencies, errors, lock = [], [0], threading.Lock()
deadline = time.monotonic() + seconds
def client():
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    mine, bad = [], 0
    while time.monotonic() < deadline and len(latencies) + len(mine) < max_requests:
        start = time.perf_counter()
        try:
            conn.request("POST", parts.path, body, headers)
            response = conn.getresponse(); response.read()
            if response.status >= 300: bad += 1
        except Exception:
            bad += 1; conn.close(); conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        mine.append(time.perf_counter() - start)
    with lock:
        latencies.extend(mine); errors[0] += bad
started = time.perf_counter()
threads = [threading.Thread(target=client) for _ in range(conns)]
[t.start() for t in threads]; [t.join() for t in threads]
elapsed = time.perf_counter() - started
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                  "requests": len(latencies), "errors": errors[0], "tool": "python"}))
"""


class Background(threading.Thread):
    """A daemon thread running `fn`, re-raising its error on join()."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.error, self.result = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self.error = exc

    def join(self, timeout=None):
        super().join(timeout)
        if self.error:
            raise self.error
        return self.result
