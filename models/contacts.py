from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey


class Contact(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "contacts"

    phone_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    pushname: Mapped[str | None] = mapped_column(String(255))
    is_user: Mapped[bool] = mapped_column(default=True)
    is_business: Mapped[bool] = mapped_column(default=False)
    is_favorite: Mapped[bool] = mapped_column(default=False)
    profile_pic: Mapped[str | None] = mapped_column(Text)
    has_whatsapp: Mapped[bool | None]
    whatsapp_checked_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
