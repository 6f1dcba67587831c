"""WhatsApp's LID addressing: since the LID migration most people's chats are keyed `<digits>@lid`,
not by their phone number. The gateway files people by phone number and keeps both ids: a contact's
`lid` beside its `phone_number`, an incoming message's sender `lid`, and no phone number at all
(never the LID's digits) until the LID is resolved (`resolve_pending`).

A message key is `<fromMe>_<chat>_<id>[_<participant>]`, and its chat part may be either form for
the same message (a send addressed `@c.us` acked under `@lid`): `key_id` is the part both share.
"""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.orm import Session

from models import Contact, Message

log = logging.getLogger(__name__)


def is_lid(wid: str | None) -> bool:
    return bool(wid) and wid.endswith("@lid")


def key_id(wa_message_id: str) -> str:
    """The message's own id inside a serialized key, whichever form its chat takes."""
    parts = wa_message_id.split("_")
    return parts[2] if len(parts) >= 3 else wa_message_id


def key_id_sql():
    """`key_id` of messages.wa_message_id in SQL: the expression of the index ix_messages_session_wa_key."""
    return func.split_part(Message.wa_message_id, literal_column("'_'"), literal_column("3"))


def phone_of(session: Session, lid: str) -> str | None:
    """The phone number a LID is known to belong to (the contacts' cache), else None."""
    return session.scalar(select(Contact.phone_number).where(Contact.lid == lid))


def digits(wid: str | None) -> str:
    """The user part of a `<digits>[:device]@server` id."""
    return (wid or "").split("@", 1)[0].split(":", 1)[0]


def person(session: Session, wid: str | None,
           ask: Callable[[str], str | None] | None = None) -> tuple[str | None, str | None]:
    """(phone digits, LID) of someone WhatsApp named by `wid`: a LID is mapped through the contacts'
    cache, then `ask` (WhatsApp Web, worker/calls.py `phone_of_lid`), and the mapping remembered; one
    that cannot be mapped yet gives no phone number (never the LID's digits)."""
    if not is_lid(wid):
        return digits(wid), None
    phone = phone_of(session, wid)
    if phone is None and ask is not None:
        try:
            phone = ask(wid)
        except Exception as exc:  # noqa: BLE001 - the caller keeps the LID; it is resolved later
            log.warning("cannot map %s to a phone number now: %s", wid, exc)
        if phone:
            remember(session, phone, wid)
    return phone, wid


def remember(session: Session, phone_number: str, lid: str) -> None:
    """Cache the mapping both ways on the contact. A LID moves to the number it belongs to now."""
    from services import contacts  # contacts -> messages -> lids: imported when used

    session.execute(update(Contact).where(Contact.lid == lid, Contact.phone_number != phone_number)
                    .values(lid=None))
    contacts.upsert(session, phone_number, lid=lid)


def resolve_pending(session: Session, session_name: str, lid: str, phone_number: str) -> int:
    """File the session's messages from `lid` that waited without a number under `phone_number`."""
    remember(session, phone_number, lid)
    return session.execute(update(Message).where(
        Message.session == session_name, Message.lid == lid, Message.phone_number.is_(None))
        .values(phone_number=phone_number)).rowcount


def unresolved(session: Session, session_name: str, limit: int = 100) -> list[str]:
    """LIDs of the session's messages still without a phone number."""
    return list(session.scalars(select(Message.lid).where(
        Message.session == session_name, Message.phone_number.is_(None), Message.lid.is_not(None))
        .distinct().limit(limit)))
