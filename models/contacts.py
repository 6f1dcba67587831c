from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey


class Contact(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "contacts"

    phone_number: Mapped[str] = mapped_column(String(32), unique=True)
    lid: Mapped[str | None] = mapped_column(String(64))  # `<digits>@lid`: WhatsApp's other id for this person
    name: Mapped[str | None] = mapped_column(String(255))
    pushname: Mapped[str | None] = mapped_column(String(255))
    is_user: Mapped[bool] = mapped_column(default=True)
    is_business: Mapped[bool] = mapped_column(default=False)
    is_favorite: Mapped[bool] = mapped_column(default=False)
    profile_pic: Mapped[str | None] = mapped_column(Text)
    has_whatsapp: Mapped[bool | None]
    whatsapp_checked_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_contacts_lid", "lid", unique=True, postgresql_where=text("lid IS NOT NULL")),)
