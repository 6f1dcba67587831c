"""Contacts: upserted from incoming messages and syncs, with the cached WhatsApp-existence answer."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import Contact
from services.messages import now


def upsert(session: Session, phone_number: str, **fields) -> None:
    """Insert or update by phone number; None values never overwrite what is known."""
    values = {k: v for k, v in fields.items() if v is not None}
    statement = insert(Contact).values(phone_number=phone_number, **values)
    if values:
        statement = statement.on_conflict_do_update(index_elements=[Contact.phone_number],
                                                    set_={**values, "updated_at": now()})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[Contact.phone_number])
    session.execute(statement)


def cached_existence(session: Session, phone_number: str, ttl_hours: int) -> bool | None:
    """The cached answer to "is this number on WhatsApp?", or None when unknown or too old."""
    contact = session.scalar(select(Contact).where(Contact.phone_number == phone_number))
    if contact is None or contact.has_whatsapp is None or contact.whatsapp_checked_at is None:
        return None
    if contact.whatsapp_checked_at < now() - timedelta(hours=ttl_hours):
        return None
    return contact.has_whatsapp


def record_existence(session: Session, phone_number: str, exists: bool, is_business: bool | None = None) -> None:
    upsert(session, phone_number, has_whatsapp=exists, whatsapp_checked_at=now(), is_business=is_business)
