"""Database engine and the thread-scoped session used by requests and tasks.

Services only flush; the boundary (the request or the task) commits. Work that must happen only
once the data is durable (publishing a Celery task) is registered with `after_commit`.
"""
from __future__ import annotations

import select
from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from core.settings import current_settings


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One shared engine (and connection pool) per database URL.

    At most 10 connections per process, never more: the API runs 64 threads per process (so that
    requests waiting with `Prefer: wait` have threads to wait on, gunicorn.conf.py), and a burst
    on all of them must not open more (with 20 of overflow, 4 processes may open 120, past
    PostgreSQL's default max_connections of 100: bench_wait's 100 concurrent requests met "too many
    clients"). A thread past the tenth waits for a connection (each request holds one for
    milliseconds; pool_timeout 30 s)."""
    engine = create_engine(url, pool_size=10, max_overflow=0)
    event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection, _record, _proxy) -> None:
    """Replace a pooled connection the server has closed (restart, pg_terminate_backend, idle
    timeout) before anyone uses it. The server's goodbye (a FATAL message, then EOF) makes an idle
    connection's socket readable, so one poll of the socket tells, where `pool_pre_ping` spends a
    round trip on every checkout (a sixth of a /send's database time). Raising DisconnectionError
    makes the pool discard it and check out another."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the pooled connection is closed")
    poll = select.poll()
    poll.register(dbapi_connection.pgconn.socket, select.POLLIN)
    # An idle connection is sent nothing we asked for: whatever arrived is almost surely a goodbye.
    # The rare harmless message (a ParameterStatus after a configuration reload) costs a reconnect.
    if poll.poll(0):
        raise DisconnectionError("the server closed the pooled connection, or is closing it")


def get_engine() -> Engine:
    """The engine of the settings in force (core.settings.current_settings)."""
    return engine_for(current_settings().database_url)


class _SettingsBoundSession(Session):
    """Unless bound explicitly (a test binds its rolled-back connection), a session talks to the
    database of the settings in force, so apps built with different settings share `db`."""

    def get_bind(self, mapper=None, clause=None, **kwargs):
        if self.bind is None:
            return get_engine()
        return super().get_bind(mapper, clause=clause, **kwargs)


db: scoped_session[Session] = scoped_session(sessionmaker(class_=_SettingsBoundSession, expire_on_commit=False))


def session_has_work(session: scoped_session) -> bool:
    """Whether the scoped session was used in this scope: a transaction begun, or work waiting for
    its commit. An unused one needs no commit (an empty commit costs ~100 us)."""
    if not session.registry.has():
        return False
    current = session.registry()
    return current.in_transaction() or bool(current.info.get("after_commit"))


def get_or_404(session: Session, model, object_id, noun: str, *, for_update: bool = False):
    """The row of `model` with this primary key, or the 404 envelope "no <noun> with this id"."""
    from core.errors import GatewayError

    row = session.get(model, object_id, with_for_update=for_update)
    if row is None:
        raise GatewayError(404, f"no {noun} with this id")
    return row


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the current transaction commits; drop it if it rolls back."""
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop("after_commit", None)
