"""Root test configuration: a throw-away PostgreSQL database and a dedicated Redis db number.

The environment is set before any project module is imported, so every part (API, tasks, worker
subprocesses) reads the test settings. Fixture modules in tests/fixtures/ are loaded as plugins.
"""
import os
from pathlib import Path

# one database per test run (named after the pid), so concurrent runs never drop each other's
os.environ.setdefault("DATABASE_URL", f"postgresql+psycopg://root@127.0.0.1:5432/wagateway_test_{os.getpid()}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("ENVIRONMENT", "test")
os.environ.setdefault("JWT_SECRET", "test-secret-that-is-long-enough-for-hs256")
os.environ.setdefault("RATE_LIMIT_LOGIN", "5/minute")
# a test that reads a whole event stream (GET /api/events) waits this long for its end
os.environ.setdefault("EVENTS_STREAM_SECONDS", "1")
# the API's session, per run too: concurrent runs must not fight over one session lock in Redis
os.environ.setdefault("SESSION_NAME", f"test{os.getpid()}")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
