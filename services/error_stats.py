"""Failure counters per WhatsApp session and error type (since the last reset) feeding the error
statistics."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import ErrorCounter, Message
from models.enums import MessageStatus
from services.messages import now


def increment(session: Session, session_name: str, error_type: str, message: str | None = None) -> None:
    """Count one failure of a message of the WhatsApp session `session_name`."""
    at = now()
    statement = insert(ErrorCounter).values(session=session_name, error_type=error_type, count=1, since=at,
                                            last_at=at, last_message=(message or "")[:2000])
    session.execute(statement.on_conflict_do_update(
        index_elements=[ErrorCounter.session, ErrorCounter.error_type],
        set_={"count": ErrorCounter.count + 1, "last_at": at, "last_message": statement.excluded.last_message}))


def counters(session: Session, session_name: str) -> list[ErrorCounter]:
    """The session's counters, most failures first."""
    return list(session.scalars(select(ErrorCounter).where(ErrorCounter.session == session_name)
                                .order_by(ErrorCounter.count.desc(), ErrorCounter.error_type)))


def reset(session: Session, session_name: str | None = None) -> int:
    """Zero one session's counters, or every session's (None); -> how many counters."""
    statement = update(ErrorCounter).values(count=0, since=now())
    if session_name is not None:
        statement = statement.where(ErrorCounter.session == session_name)
    return session.execute(statement).rowcount


def recent_failures(session: Session, session_name: str, limit: int) -> list[Message]:
    """The session's last `limit` failed messages, newest first."""
    return list(session.scalars(select(Message).where(Message.session == session_name,
                                                      Message.status == MessageStatus.FAILED.value)
                                .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))
