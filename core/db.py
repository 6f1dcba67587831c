"""Database engine and the thread-scoped session used by requests and tasks.

Services only flush; the boundary (the request or the task) commits. Work that must happen only
once the data is durable (publishing a Celery task) is registered with `after_commit`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from core.settings import get_settings


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    return _engine(get_settings().database_url)


db: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))


def bind_default_engine() -> None:
    """Bind the scoped session to the configured engine unless a caller (a test) bound it already."""
    if db.session_factory.kw.get("bind") is None:
        db.configure(bind=get_engine())


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
