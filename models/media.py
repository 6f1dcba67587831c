"""Media bytes in PostgreSQL (one store every process reaches: API, workers, beat).

A `media` row describes one file; its bytes are `media_chunks` rows of at most CHUNK_BYTES each
(bytea stored EXTERNAL: no compression of already-compressed photos and videos, and a slice of a
chunk is read without detoasting the whole value). Deleting the row deletes its chunks.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UUIDPrimaryKey, utcnow


class Media(UUIDPrimaryKey, Base):
    __tablename__ = "media"

    session: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(10))  # outgoing (uploaded) or incoming (downloaded)
    kind: Mapped[str] = mapped_column(String(16))  # image, video, audio, ptt, document, sticker
    mimetype: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # NULL while the bytes are being written: a half-written file is never served or sent
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_media_created_at", "created_at"),)


class MediaChunk(Base):
    __tablename__ = "media_chunks"

    media_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
