"""The media store: files sent and received, in PostgreSQL, streamed in chunks.

Why PostgreSQL (bytea chunks) and not a bucket: the API, the workers and beat already share the
database, so a file uploaded on the API host is readable by the worker on another host with no
new service, credentials or consistency rules; the bytes commit in the same transaction as the
message that carries them (a failed request stores nothing), and deleting a media row deletes its
chunks. Measured figures and the limits of this choice are in README ("Media").

Bytes move CHUNK_BYTES at a time, in and out: no process ever holds a whole file.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import filetype
from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from core.errors import GatewayError
from models import Media, MediaChunk, Message, ScheduledMessage
from models.enums import ErrorType, MessageStatus, ScheduleStatus
from services.messages import now

CHUNK_BYTES = 1024 * 1024
SNIFF_BYTES = 8192  # what `filetype` reads of a file's head
MB = 1024 * 1024

# WhatsApp's own limits per kind (the client refuses larger files); MEDIA_MAX_BYTES caps them all
KIND_LIMITS = {"image": 16 * MB, "video": 16 * MB, "audio": 16 * MB, "ptt": 16 * MB,
               "document": 100 * MB, "sticker": 500 * 1024}
# the formats WhatsApp plays or shows inline for each kind; a document may be anything
KIND_MIMETYPES = {
    "image": {"image/jpeg", "image/png", "image/webp", "image/gif"},
    "video": {"video/mp4", "video/3gpp", "video/quicktime"},
    "audio": {"audio/mpeg", "audio/ogg", "audio/mp4", "audio/aac", "audio/amr", "audio/wav"},
    "ptt": {"audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr"},
    "sticker": {"image/webp"},
}
KINDS = tuple(KIND_LIMITS)
# filetype's names -> the standard ones WhatsApp expects
_CANONICAL = {"audio/x-m4a": "audio/mp4", "audio/x-wav": "audio/wav", "video/x-m4v": "video/mp4",
              "audio/x-aac": "audio/aac"}


def sniff(head: bytes) -> str | None:
    """The MIME type the bytes say they are (never the client's word); plain UTF-8 text has no
    magic number, so text without NULs in its head is text/plain; None: unknown."""
    kind = filetype.guess(head)
    if kind is not None:
        return _CANONICAL.get(kind.mime, kind.mime)
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the head is fine
            return None
        decoded = head[:exc.start].decode("utf-8")
    return "text/plain" if decoded and "\x00" not in decoded else None


def kind_for(mimetype: str) -> str:
    """The WhatsApp kind a file of `mimetype` is sent as when the client does not say."""
    major = mimetype.split("/", 1)[0]
    if major in ("image", "video", "audio") and mimetype in KIND_MIMETYPES[major]:
        return major
    return "document"


def _unsupported(reason: str, field: str = "file") -> GatewayError:
    return GatewayError(415, reason, ErrorType.VALIDATION_ERROR, details={field: [reason]})


def check_type(mimetype: str | None, kind: str | None, filename: str | None) -> str:
    """-> the kind to send as; a 415 for bytes of no known type, for bytes that are not what the
    client said (`type`) or what the file's name says (a `.jpg` that is a zip)."""
    if mimetype is None:
        raise _unsupported("the file's type cannot be recognised from its bytes")
    guessed = mimetypes.guess_type(filename or "")[0]
    if guessed and guessed.split("/", 1)[0] in ("image", "video", "audio") \
            and guessed.split("/", 1)[0] != mimetype.split("/", 1)[0]:
        raise _unsupported(f"the file is named {filename!r} but its bytes are {mimetype}")
    kind = kind or kind_for(mimetype)
    allowed = KIND_MIMETYPES.get(kind)
    if allowed is not None and mimetype not in allowed:
        raise _unsupported(f"a {kind} must be one of {', '.join(sorted(allowed))}; the bytes are {mimetype}",
                           "type")
    return kind


def limit_for(kind: str, max_bytes: int) -> int:
    return min(KIND_LIMITS.get(kind, max_bytes), max_bytes)


def _too_large(limit: int, kind: str) -> GatewayError:
    return GatewayError(413, f"the file is larger than {limit} bytes, the limit for a {kind}",
                        ErrorType.VALIDATION_ERROR, details={"file": [f"at most {limit} bytes for a {kind}"]})


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces of exactly CHUNK_BYTES (the last one shorter), whatever sizes come in."""
    pending = bytearray()
    for piece in chunks:
        pending += piece
        while len(pending) >= CHUNK_BYTES:
            yield bytes(pending[:CHUNK_BYTES])
            del pending[:CHUNK_BYTES]
    if pending:
        yield bytes(pending)


@dataclass(frozen=True)
class Stored:
    id: uuid.UUID
    kind: str
    mimetype: str
    filename: str | None
    size: int
    sha256: str


def store(session: Session, *, session_name: str, chunks: Iterable[bytes], kind: str | None,
          filename: str | None, max_bytes: int, direction: str = "outgoing",
          fallback_mimetype: str | None = None) -> Stored:
    """Write a file into the store in `session`'s transaction (the caller commits).

    Outgoing files are checked (type from the bytes, kind, size limit: 4xx otherwise); incoming ones,
    WhatsApp's, are only bounded by `max_bytes` and keep WhatsApp's type when the bytes say nothing."""
    media = Media(session=session_name, direction=direction, kind=kind or "document",
                  mimetype="application/octet-stream", filename=filename, size=0)
    session.add(media)
    session.flush()
    digest, size, limit, seq = hashlib.sha256(), 0, max_bytes, 0
    for seq, chunk in enumerate(_rechunk(chunks)):
        if seq == 0:
            mimetype = sniff(chunk[:SNIFF_BYTES])
            if direction == "outgoing":
                media.kind = check_type(mimetype, kind, filename)
                limit = limit_for(media.kind, max_bytes)
            media.mimetype = mimetype or fallback_mimetype or "application/octet-stream"
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, media.kind)
        digest.update(chunk)
        session.execute(insert(MediaChunk), {"media_id": media.id, "seq": seq, "data": chunk})
    if size == 0:
        raise GatewayError(422, "the file is empty", ErrorType.VALIDATION_ERROR, details={"file": ["0 bytes"]})
    media.size, media.sha256, media.completed_at = size, digest.hexdigest(), now()
    if not media.filename:
        media.filename = f"{media.kind}{mimetypes.guess_extension(media.mimetype) or '.bin'}"
    return Stored(media.id, media.kind, media.mimetype, media.filename, size, media.sha256)


def read_chunks(bind: Engine | Connection, media_id: uuid.UUID) -> Iterator[bytes]:
    """The file's bytes chunk by chunk, on a connection of its own when given the engine (a streamed
    answer outlives its request's session); one chunk in memory at a time."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            yield from read_chunks(connection, media_id)
        return
    seq = 0
    while True:
        data = bind.execute(select(MediaChunk.data).where(
            MediaChunk.media_id == media_id, MediaChunk.seq == seq)).scalar()
        if data is None:
            return
        yield bytes(data)
        seq += 1


def get_complete(session: Session, media_id: uuid.UUID | None) -> Media | None:
    media = session.get(Media, media_id) if media_id else None
    return media if media is not None and media.completed_at is not None else None


def attachment(session: Session, media_id: uuid.UUID | None, session_name: str, field: str = "mediaId") -> Stored | None:
    """A stored file to attach (`mediaId`), or a 422: it must be complete and of the same session."""
    if media_id is None:
        return None
    media = get_complete(session, media_id)
    if media is None or media.session != session_name:
        raise GatewayError(422, f"no stored file {media_id} in this session (uploaded with POST "
                                "/api/whatsapp/media, and not purged)", details={field: ["unknown file"]})
    return Stored(media.id, media.kind, media.mimetype, media.filename, media.size, media.sha256 or "")


def release(session: Session, media_ids) -> int:
    """Delete those of `media_ids` that no message and no active schedule holds any more (a file
    sent to many, in a bulk, stays while another recipient's message keeps it). -> files deleted."""
    ids = {media_id for media_id in media_ids if media_id is not None}
    if not ids:
        return 0
    held = exists().where(Message.media_id == Media.id)
    scheduled = exists().where(ScheduledMessage.media_id == Media.id,
                               ScheduledMessage.status == ScheduleStatus.ACTIVE.value)
    return session.execute(delete(Media).where(Media.id.in_(ids), ~held, ~scheduled)).rowcount


def purge(session: Session, retention_days: int, batch: int = 100) -> int:
    """Delete the files older than `retention_days` (0: keep forever), except those of messages still
    waiting to be sent and of active schedules; their messages keep their row, without the
    attachment. -> files deleted."""
    if retention_days <= 0:
        return 0
    cutoff: datetime = now() - timedelta(days=retention_days)
    pending = exists().where(Message.media_id == Media.id,
                             Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.SENDING.value]))
    scheduled = exists().where(ScheduledMessage.media_id == Media.id,
                               ScheduledMessage.status == ScheduleStatus.ACTIVE.value)
    ids = list(session.scalars(select(Media.id).where(Media.created_at < cutoff, ~pending, ~scheduled)
                               .order_by(Media.created_at).limit(batch)))
    if ids:
        session.execute(update(Message).where(Message.media_id.in_(ids)).values(media_url=None))
        session.execute(delete(Media).where(Media.id.in_(ids)))  # chunks go with them (ON DELETE CASCADE)
    return len(ids)


# -- where an upload's bytes come from ------------------------------------------------------------
def from_stream(stream, piece: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A file-like object (an upload werkzeug spooled to disk) read a piece at a time."""
    while data := stream.read(piece):
        yield data


def from_base64(text_: str, field: str = "base64") -> Iterator[bytes]:
    """Raw base64 or a `data:<type>;base64,` URL, decoded a slice at a time; a 422 if it is not base64."""
    if text_.startswith("data:"):
        header, _, text_ = text_.partition(",")
        if not header.endswith(";base64"):
            raise GatewayError(422, "a data URL must be base64", details={field: ["use data:<type>;base64,..."]})
    if any(c.isspace() for c in text_[:76 * 4]) or any(c.isspace() for c in text_[-8:]):
        text_ = "".join(text_.split())  # line-wrapped base64 (MIME style)
    if len(text_) % 4:
        raise GatewayError(422, "not valid base64 (length)", details={field: ["not valid base64"]})
    step = (CHUNK_BYTES // 3) * 4
    for start in range(0, len(text_), step):
        try:
            yield base64.b64decode(text_[start:start + step], validate=True)
        except (binascii.Error, ValueError):
            raise GatewayError(422, "not valid base64", details={field: ["not valid base64"]}) from None
