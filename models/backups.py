"""Encrypted backups of a session's browser profile (services/backups.py writes and reads them)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UUIDPrimaryKey, utcnow


class SessionBackup(UUIDPrimaryKey, Base):
    """One AES-256-GCM sealed tar.gz of the parts of `tokens/<session>/` that keep the login.

    The id and the session name are the cipher's associated data: a row copied under another
    session or id does not decrypt. `ciphertext` is deferred so listings never load the bytes."""

    __tablename__ = "session_backups"

    session_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    size: Mapped[int]  # bytes of `ciphertext`
    sha256: Mapped[str] = mapped_column(String(64))  # hex digest of `ciphertext` (storage integrity)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (Index("ix_session_backups_session_created", "session_name", "created_at"),)
