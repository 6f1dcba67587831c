"""People (users) and service clients (API tokens) that call the API."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDPrimaryKey, utcnow
from models.sessions import NAME_LENGTH


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # the WhatsApp sessions this caller may use (web.auth.authorize_session); NULL = every session
    allowed_sessions: Mapped[list[str] | None] = mapped_column(ARRAY(String(NAME_LENGTH)))


class ApiToken(UUIDPrimaryKey, Base):
    """A long-lived bearer token for a service client; its id is the JWT's jti."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # the WhatsApp sessions this caller may use (web.auth.authorize_session); NULL = every session
    allowed_sessions: Mapped[list[str] | None] = mapped_column(ARRAY(String(NAME_LENGTH)))

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
