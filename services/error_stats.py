"""Failure counters per error type (since the last reset) feeding the error statistics."""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import ErrorCounter
from services.messages import now


def increment(session: Session, error_type: str, message: str | None = None) -> None:
    at = now()
    statement = insert(ErrorCounter).values(error_type=error_type, count=1, since=at, last_at=at,
                                            last_message=(message or "")[:2000])
    session.execute(statement.on_conflict_do_update(
        index_elements=[ErrorCounter.error_type],
        set_={"count": ErrorCounter.count + 1, "last_at": at, "last_message": statement.excluded.last_message}))


def reset(session: Session) -> int:
    return session.execute(update(ErrorCounter).values(count=0, since=now())).rowcount
