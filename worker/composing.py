"""Typing before sending: the chat shows "typing..." for a while before each message, as a person's
phone would (optional per session: `typingBeforeSend` in /api/sessions, read with the pacing caps).

How long: `duration_seconds(text)` = the text's length x TYPING_MS_PER_CHAR, at least TYPING_MIN_MS
and at most TYPING_MAX_MS (a 12-character "ok, a domani" types for 1 s, 100 characters or more for
8 s); a media message types its caption. The courier starts typing that long before the pacer lets
the send go, so the typing is *inside* the spacing between two sends, never added to it: with 5 s
between sends and 3 s of typing, the messages still arrive 5 s apart; a typing longer than the
spacing pushes the send back by the difference only.

The call is wa-js's `WPP.chat.markIsComposing(chatId, ms)`, which marks the chat composing and
marks it paused after `ms` (src/chat/functions/markIsComposing.ts). It needs the chat in WhatsApp
Web's store (assertGetChat), so the page helper finds the chat first (`WPP.chat.find`, which
creates it for a first message), and does not await the pause: the browser thread stays free for
the event pump while the courier's own thread waits out the typing. Each session has its own worker
and browser, so one session's typing never holds another's sends.
"""
from __future__ import annotations

import logging
import time

from worker.calls import WhatsAppCalls
from worker.errors import WhatsAppError

log = logging.getLogger(__name__)

TYPING_MS_PER_CHAR = 80
TYPING_MIN_MS = 1_000
TYPING_MAX_MS = 8_000


def duration_seconds(text: str | None) -> float:
    return min(TYPING_MAX_MS, max(TYPING_MIN_MS, len(text or "") * TYPING_MS_PER_CHAR)) / 1000


def show(calls: WhatsAppCalls, chat_id: str, seconds: float) -> None:
    """"typing..." in `chat_id` for `seconds`, waited out here. A chat WhatsApp refuses to mark is
    no reason to hold the message: it goes at once (a disconnected session raises, as a send would)."""
    try:
        calls.mark_composing(chat_id, int(seconds * 1000))
    except WhatsAppError as exc:
        log.info("typing not shown in %s (%s): sending without it", chat_id, exc)
        return
    time.sleep(seconds)  # from when the page has marked it: the contact sees the whole of it
