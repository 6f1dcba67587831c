"""The pool on real PostgreSQL: connections the server closed are replaced before anyone uses them."""
from __future__ import annotations

import time
from contextlib import ExitStack

import psycopg
from sqlalchemy import text


def _held_backends(engine, count: int) -> list[int]:
    """Check out `count` pooled connections at once, note their server pids, give them back."""
    with ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(count)]
        return [c.execute(text("SELECT pg_backend_pid()")).scalar() for c in connections]


def test_connections_the_server_closed_are_replaced_at_checkout(database):
    before = _held_backends(database, 3)
    with psycopg.connect(database.url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as admin:
        for pid in before:  # what a server restart or an idle timeout does to the pool
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [before]).fetchone()[0]:
            assert time.monotonic() < deadline, "the backends did not exit"
            time.sleep(0.05)
    after = _held_backends(database, 3)  # each checkout found its connection closed and took a new one
    assert not set(after) & set(before)
