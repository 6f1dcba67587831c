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
    # opted out (services/optout.py): skipped by bulk sends and campaigns, single sends refused
    opted_out_at: Mapped[datetime | None]
    opt_out_reason: Mapped[str | None] = mapped_column(Text)  # the message they wrote, or who opted them out

    __table_args__ = (
        Index("ix_contacts_lid", "lid", unique=True, postgresql_where=text("lid IS NOT NULL")),
        Index("ix_contacts_opted_out", "phone_number", postgresql_where=text("opted_out_at IS NOT NULL")),
    )
