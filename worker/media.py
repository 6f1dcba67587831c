"""Media between the media store (PostgreSQL) and WhatsApp Web, a chunk at a time.

Sending: the file's chunks go from the store into the page one `execute_async_script` each
(base64, ~1.3 MB), where they become one Blob for `WPP.chat.sendFileMessage`; the worker never
holds more than a chunk. The send itself runs in the page's background and is polled, so a long
upload neither hits the driver's script timeout nor stops the event pump. Receiving is the same
the other way: `WPP.chat.downloadMedia` keeps the Blob in the page and the worker reads it in
slices straight into the store.
"""
from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator

from core.db import db
from models import Message
from services import media as store
from services.messages import media_path
from worker.calls import WhatsAppCalls
from worker.errors import BrowserTimeout

POLL_SECONDS = 0.25
SECONDS_PER_MB = 4  # the upload to WhatsApp's servers, on top of BROWSER_TIMEOUT_SECONDS


def send_options(message: Message) -> dict:
    """wa-js `sendFileMessage` options for the row: a voice note is audio with `isPtt`."""
    options = {"type": "audio" if message.media_type == "ptt" else message.media_type,
               "mimetype": message.mimetype, "filename": message.filename}
    if message.media_type == "ptt":
        options["isPtt"] = True
    if message.caption and message.media_type not in ("audio", "ptt", "sticker"):
        options["caption"] = message.caption
    return options


class PageFiles:
    def __init__(self, calls: WhatsAppCalls):
        self.calls = calls

    def send(self, message: Message) -> dict:
        """-> wa-js' answer `{id, ack, ...}`. The store's file is gone (purged): a permanent error."""
        media = store.get_complete(db, message.media_id)
        if media is None:
            raise LookupError(f"message {message.id}: its media is no longer stored")
        key = uuid.uuid4().hex
        with self.calls.thread.sequence():
            return self._send(message, media, key)

    def _send(self, message: Message, media, key: str) -> dict:
        try:
            for chunk in store.read_chunks(db.get_bind(), media.id):
                self.calls.call_wpp("__wagw.filePut", key, base64.b64encode(chunk).decode("ascii"))
            self.calls.call_wpp("__wagw.fileSend", key, message.chat_id, send_options(message))
            settings = self.calls.settings
            deadline = time.monotonic() + settings.browser_timeout_seconds + SECONDS_PER_MB * media.size / 2**20
            while time.monotonic() < deadline:
                answer = self.calls.call_wpp("__wagw.fileResult", key) or {}
                if answer.get("state") == "done":
                    key = None  # the page dropped it
                    return answer.get("value") or {}
                time.sleep(POLL_SECONDS)
            raise BrowserTimeout(f"the media send did not finish within {deadline:.0f} s")
        finally:
            if key is not None:
                self._drop(key)

    def download(self, wa_message_id: str) -> tuple[str | None, int, Iterator[bytes]]:
        """-> (WhatsApp's type, size, the bytes in chunks) of an incoming message's media; the page
        keeps the Blob until the chunks are consumed."""
        key = uuid.uuid4().hex
        info = self.calls.call_wpp("__wagw.fileDownload", key, wa_message_id) or {}
        size = int(info.get("size") or 0)

        def chunks() -> Iterator[bytes]:
            with self.calls.thread.sequence():
                try:
                    for offset in range(0, size, store.CHUNK_BYTES):
                        yield base64.b64decode(self.calls.call_wpp("__wagw.fileRead", key, offset, store.CHUNK_BYTES))
                finally:
                    self._drop(key)

        return info.get("type"), size, chunks()

    def _drop(self, key: str) -> None:
        try:
            self.calls.call_wpp("__wagw.fileDrop", key, connected=False)
        except Exception:  # noqa: BLE001 - a reload already dropped it; nothing else holds it
            pass


def save_incoming(files: PageFiles, message: Message, max_bytes: int) -> bool:
    """Download an incoming message's media once into the store (the caller commits)."""
    mimetype, size, chunks = files.download(message.wa_message_id)
    if size > max_bytes:
        chunks.close()
        message.error_message = f"media of {size} bytes not downloaded: MEDIA_MAX_BYTES is {max_bytes}"
        return False
    stored = store.store(db, session_name=message.session, chunks=chunks, kind=message.media_type,
                         filename=message.filename, max_bytes=max_bytes, direction="incoming",
                         fallback_mimetype=mimetype or message.mimetype)
    message.media_id, message.mimetype, message.media_url = stored.id, stored.mimetype, media_path(message.id)
    message.filename = message.filename or stored.filename
    return True
