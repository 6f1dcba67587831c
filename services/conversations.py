"""Messages as people read them: the latest conversations of a session, one per number, and
one conversation in chat order (the admin panel's Messages page)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from models import Message

# The conversations list groups the session's latest messages: this many rows at most, read along
# the (session, created_at, id) index, so the page costs the same with a million messages.
SCANNED = 500


@dataclass(frozen=True)
class Conversation:
    phone_number: str
    last: Row  # of the latest message: direction, body, caption, sender_name, created_at
    messages: int  # among the scanned ones


def latest(session: Session, session_name: str, *, pattern: str | None = None,
           phone_number: str | None = None) -> list[Conversation]:
    """One entry per number among the session's latest SCANNED messages, most recent conversation
    first; only messages whose text matches `pattern` (an ILIKE pattern: the trigram index on the
    text answers it) or with `phone_number` (the number's index) when given."""
    query = select(Message.phone_number, Message.direction, Message.body, Message.caption, Message.sender_name,
                   Message.created_at).where(Message.session == session_name, Message.phone_number.is_not(None))
    if pattern:
        query = query.where(Message.body.ilike(pattern))
    if phone_number:
        query = query.where(Message.phone_number == phone_number)
    rows = session.execute(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(SCANNED))
    found: dict[str, list[Row]] = {}
    for row in rows:
        found.setdefault(row.phone_number, []).append(row)
    return [Conversation(phone, kept[0], len(kept)) for phone, kept in found.items()]


def chat(session: Session, session_name: str, phone_number: str, limit: int = 100) -> list[Message]:
    """The last `limit` messages with one number, both directions, oldest first (as a chat reads)."""
    rows = session.scalars(select(Message)
                           .where(Message.session == session_name, Message.phone_number == phone_number)
                           .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit))
    return list(reversed(list(rows)))
