"""Delivery of outgoing messages through the session: claim, pace, send, record, classify failures.

The row is the truth. A row is claimed (QUEUED -> SENDING) and that claim is committed *before* the
browser acts, so a crash during a send leaves SENDING, which is reconciled against the chat
(`WPP.chat.getMessages`) rather than sent again blindly.

A worker that loses the session's lease mid-send (frozen, cut off: worker/lock.py) neither sends
(the page calls are fenced) nor writes the row again: every write after the claim first checks, under
a row lock, that the row still carries this claim's stamp (`sending_at`). The row is left to the
session's new owner, which reconciles it.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import func, or_, select

import redis

from core import metrics
from core.db import db
from core.redis import Keys
from core.settings import Settings
from models import BulkJob, Message
from models.enums import ErrorType, JobStatus, MessageStatus
from services import contacts, dispatch, error_stats, events, lids, messages, quiet_hours, runtime_settings, send_rules
from services.messages import AckResult, now
from services.send_rules import RECONCILE_AFTER_SECONDS, WAIT_FOR_CONNECTION_SECONDS
from worker import composing, media
from worker.calls import WhatsAppCalls
from worker.errors import BrowserDied, BrowserTimeout, LeaseLost, SessionNotConnected, WhatsAppError
from worker.pacer import Pacer, PacingDeferred

log = logging.getLogger(__name__)

RECONCILE_PAGE = 50  # messages per WPP.chat.getMessages call while reconciling
RECONCILE_MAX_PAGES = 20  # a row is looked for among at most the chat's last 1,000 messages


class Outcome(StrEnum):
    SKIPPED = "skipped"
    SENT = "sent"
    RETRY = "retry"
    WAITING = "waiting"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    HANDED_OVER = "handed over"  # the lease was lost: the row is the new owner's


class PermanentFailure(Exception):
    def __init__(self, error_type: ErrorType, detail: str):
        super().__init__(detail)
        self.error_type = error_type


def pending_ack_key(session_name: str, wa_message_id: str) -> str:
    """Where an ack waits for its send's commit: by the key's own id, since the ack may name the
    chat as `@lid` where the send's answer said `@c.us` (services/lids.py)."""
    return f"wa:{session_name}:ack:{lids.key_id(wa_message_id)}"


def same_content(found: dict, message: Message) -> bool:
    """A chat message is the row's: the same text, or for media the same kind and caption (a media
    message's `body` is WhatsApp's thumbnail, not ours; wa-js captions a file sent without one
    with its file name)."""
    if message.media_type:
        caption = found.get("caption") or None
        return found.get("type") == message.media_type and (
            caption == message.caption or (message.caption is None and caption == message.filename))
    return found.get("body") == message.body


class Courier:
    """Sends through the session's WhatsApp calls, with the session's settings and Redis client."""

    def __init__(self, calls: WhatsAppCalls, settings: Settings, client: redis.Redis):
        self.calls = calls
        self.settings = settings
        self.redis = client
        self.pacer = Pacer(client, settings)
        self.files = media.PageFiles(calls)

    # -- single messages ---------------------------------------------------------------------
    def send_one(self, message_id) -> Outcome:
        message = messages.claim_for_sending(db, message_id)
        if message is None:
            db.rollback()
            return Outcome.SKIPPED
        db.commit()  # SENDING is on record before the browser acts
        try:
            return self._deliver(message)
        except LeaseLost as exc:
            return self._hand_over(message, exc)

    def _hand_over(self, message: Message, exc: LeaseLost) -> Outcome:
        db.rollback()
        log.warning("message %s: %s; left to the session's owner", message.id, exc)
        dispatch.publish_reconcile(message.id, message.session, countdown=RECONCILE_AFTER_SECONDS)
        return Outcome.HANDED_OVER

    def _check_claim(self, message: Message) -> None:
        """Lock the row, and go no further if it no longer carries this claim (see the module doc)."""
        if not messages.still_claimed(db, message):
            raise LeaseLost(f"message {message.id} was claimed again by another worker")

    def _deliver(self, message: Message) -> Outcome:
        try:
            self._ensure_on_whatsapp(message)
            self._wait_turn(message)  # typing included, if the session types before sending
            result = (self.files.send(message) if message.media_type
                      else self.calls.send_text(message.chat_id, message.body))
            self.pacer.record_send()
        except LookupError as exc:  # the attachment was purged before the message could go
            return self._fail(message, ErrorType.VALIDATION_ERROR, str(exc))
        except SessionNotConnected as exc:
            return self._wait_for_connection(message, str(exc))
        except PacingDeferred as exc:
            return self._later(message, exc.seconds, None, str(exc), count_attempt=False)
        except PermanentFailure as exc:
            return self._failed_attempt(message, exc.error_type, str(exc))
        except WhatsAppError as exc:
            return self._failed_attempt(message, send_rules.classify(exc.code), str(exc))
        except (BrowserTimeout, BrowserDied) as exc:
            # The send may or may not have reached WhatsApp: look in the chat before trying again.
            log.warning("message %s: outcome unknown (%s); reconciling later", message.id, exc)
            dispatch.publish_reconcile(message.id, message.session, countdown=RECONCILE_AFTER_SECONDS)
            return Outcome.UNCERTAIN
        self._record_sent(message, (result or {}).get("id"))
        return Outcome.SENT

    def _wait_turn(self, message: Message) -> None:
        session = message.session
        started = time.monotonic()
        caps = self.pacer.limits()
        try:
            # bulks and campaigns wait out the quiet hours; single sends too if the session says so
            if message.bulk_job_id is not None or caps.quiet_hold_singles:
                self._hold_in_quiet_hours()
            if caps.typing_before_send:  # typing fills the end of the spacing (worker/composing.py)
                seconds = composing.duration_seconds(message.caption if message.media_type else message.body)
                self.pacer.wait_turn(lead=seconds)
                composing.show(self.calls, message.chat_id, seconds)
            self.pacer.wait_turn()
        except PacingDeferred as exc:
            metrics.PACING_DEFERRALS.labels(session, exc.reason).inc()
            raise
        metrics.PACING_WAIT.labels(session).observe(time.monotonic() - started)

    def _hold_in_quiet_hours(self) -> None:
        caps = self.pacer.limits()
        left = quiet_hours.seconds_left(caps.quiet_hours, caps.quiet_timezone or self.settings.timezone,
                                        datetime.now(timezone.utc))
        if left > 0:
            raise PacingDeferred(left, "quiet hours")

    def _record_sent(self, message: Message, wa_message_id: str | None) -> None:
        self._check_claim(message)
        messages.mark_sent(db, message, wa_message_id)
        db.commit()
        log.info("message %s sent as %s", message.id, wa_message_id)
        if wa_message_id:  # an ack that overtook this commit was parked in Redis: apply it now
            parked = self.redis.getdel(pending_ack_key(message.session, wa_message_id))
            applied = parked and messages.apply_ack(db, message.session, wa_message_id, int(parked))
            if applied == AckResult.APPLIED:
                db.commit()

    def _ensure_on_whatsapp(self, message: Message) -> None:
        """Real wa-js does not fail a send to a number without WhatsApp: ask first (cached). A group
        is no number: wa-js refuses a chat it does not know (`chat_not_found`) by itself."""
        if message.is_group_msg:
            return
        known = contacts.cached_existence(db, message.phone_number, self.settings.whatsapp_check_ttl_hours)
        if known is None:
            try:
                found = self.calls.query_exists(message.chat_id)
            except WhatsAppError as exc:
                raise PermanentFailure(send_rules.classify(exc.code, ErrorType.INVALID_NUMBER), str(exc)) from None
            known = found is not None
            contacts.record_existence(db, message.phone_number, known,
                                      bool(found.get("biz")) if isinstance(found, dict) else None)
            db.commit()
        if not known:
            raise PermanentFailure(ErrorType.NOT_WHATSAPP, f"{message.phone_number} is not on WhatsApp")

    def _retry_rules(self) -> Settings:
        """The retry limits in force: SEND_MAX_ATTEMPTS, SEND_MAX_AGE_MINUTES and the backoff may be
        changed at /api/settings (read at each failed try, which is rare enough for one query)."""
        return runtime_settings.effective(db, self.settings)

    def _wait_for_connection(self, message: Message, detail: str) -> Outcome:
        """Disconnected: the message waits without burning an attempt, up to its maximum age."""
        if send_rules.too_old(message.created_at, self._retry_rules()):
            return self._fail(message, ErrorType.CONNECTION_ERROR, f"still not connected after the maximum age: {detail}")
        self._later(message, WAIT_FOR_CONNECTION_SECONDS, ErrorType.CONNECTION_ERROR, detail, count_attempt=False)
        return Outcome.WAITING

    def _failed_attempt(self, message: Message, error_type: ErrorType, detail: str) -> Outcome:
        rules = self._retry_rules()
        if send_rules.gives_up(error_type, message.attempts, message.created_at, rules):
            return self._fail(message, error_type, detail)
        error_stats.increment(db, message.session, error_type.value, detail)
        return self._later(message, send_rules.retry_delay(message.attempts, rules), error_type, detail)

    def _fail(self, message: Message, error_type: ErrorType, detail: str) -> Outcome:
        self._check_claim(message)
        messages.mark_failed(db, message, error_type.value, detail)
        error_stats.increment(db, message.session, error_type.value, detail)
        db.commit()
        return Outcome.FAILED

    def _later(self, message: Message, seconds: float, error_type: ErrorType | None, detail: str,
               count_attempt: bool = True) -> Outcome:
        """Back to QUEUED until `seconds` from now. A bulk chain picks its own rows up when they are
        due; a single message rides on the broker only for a short wait (send_rules.fits_on_broker),
        else it waits in PostgreSQL with no task (task_id NULL) until the sweeper publishes it."""
        self._check_claim(message)
        on_broker = message.bulk_job_id is None and send_rules.fits_on_broker(seconds)
        if message.bulk_job_id is None and not on_broker:
            message.task_id = None
        messages.requeue(db, message, now() + timedelta(seconds=seconds),
                         error_type.value if error_type else None, detail, count_attempt)
        db.commit()
        if on_broker:
            dispatch.publish_send(message.id, message.session, countdown=seconds)
        return Outcome.RETRY

    # -- bulk chains -----------------------------------------------------------------------
    def bulk_step(self, job_id, chain: str) -> Outcome:
        """Send the job's next due message, then publish the next step of the same chain."""
        if self.redis.get(Keys.bulk_chain(job_id)) != chain:
            return Outcome.SKIPPED  # cancelled, finished, or superseded by a newer chain
        self.redis.set(Keys.bulk_heartbeat(job_id), now().isoformat(), ex=3600)
        job = db.get(BulkJob, job_id)
        if job is None or job.status != JobStatus.RUNNING.value:
            return Outcome.SKIPPED
        next_id = db.scalar(
            select(Message.id)
            .where(Message.bulk_job_id == job.id, Message.status == MessageStatus.QUEUED.value,
                   or_(Message.not_before.is_(None), Message.not_before <= now()))
            .order_by(Message.created_at, Message.id).limit(1).with_for_update(skip_locked=True))
        if next_id is None:
            return self._bulk_idle(job, chain)
        outcome = self.send_one(next_id)
        countdown = WAIT_FOR_CONNECTION_SECONDS if outcome == Outcome.WAITING else None
        dispatch.publish_bulk(job.id, job.session, chain, countdown)
        return outcome

    def _bulk_idle(self, job: BulkJob, chain: str) -> Outcome:
        earliest = db.scalar(select(func.min(func.coalesce(Message.not_before, now()))).where(
            Message.bulk_job_id == job.id,
            Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.SENDING.value])))
        if earliest is None:
            job.status, job.finished_at = JobStatus.DONE.value, now()
            events.job_progress(db, job.id, final=True)
            db.commit()
            self.redis.delete(Keys.bulk_chain(job.id))
            return Outcome.SKIPPED
        db.rollback()
        # look again when the earliest row is due, but never later than a short countdown allows
        wait = min(send_rules.MAX_BROKER_DELAY_SECONDS, max(1.0, (earliest - now()).total_seconds()))
        dispatch.publish_bulk(job.id, job.session, chain, wait)
        return Outcome.WAITING

    # -- after a crash ----------------------------------------------------------------------
    def reconcile(self, message_id) -> Outcome:
        """A row left in SENDING: find it in the chat (then SENT) or put it back in the queue."""
        message = db.get(Message, message_id)
        if message is None or message.status != MessageStatus.SENDING.value:
            return Outcome.SKIPPED
        try:
            return self._reconcile(message)
        except LeaseLost as exc:
            return self._hand_over(message, exc)

    def _reconcile(self, message: Message) -> Outcome:
        try:
            recent = self._chat_since(message.chat_id, message.created_at.timestamp() - 60)
        except SessionNotConnected:
            dispatch.publish_reconcile(message.id, message.session, countdown=RECONCILE_AFTER_SECONDS)
            return Outcome.WAITING
        except WhatsAppError:
            recent = []  # no chat at all: it was never sent
        candidates = [m for m in recent if m.get("fromMe") and same_content(m, message)]
        # a row may hold the id under the chat's other form (`@c.us` / `@lid`): compare the keys' own ids
        own_ids = [lids.key_id(m["id"]) for m in candidates]
        taken = set(db.scalars(select(lids.key_id_sql()).where(
            Message.session == message.session, Message.from_me.is_(True), lids.key_id_sql().in_(own_ids))))
        found = [m for m in candidates if lids.key_id(m["id"]) not in taken]
        if found:
            log.info("message %s was sent before the crash: %s", message.id, found[0]["id"])
            self._record_sent(message, found[0]["id"])
            if int(found[0].get("ack") or 0) >= 2:
                messages.apply_ack(db, message.session, found[0]["id"], int(found[0]["ack"]))
                db.commit()
            return Outcome.SENT
        log.info("message %s was not sent before the crash: queueing it again", message.id)
        self._check_claim(message)
        messages.requeue(db, message, now(), None, "not found in the chat after a crash", count_attempt=False)
        db.commit()
        if message.bulk_job_id is None:
            dispatch.publish_send(message.id, message.session)
        return Outcome.RETRY

    def _chat_since(self, chat_id: str, since: float) -> list[dict]:
        """The chat's messages from `since` (epoch seconds) on, paging back from the newest: a busy
        chat may hold more than one page of messages sent after the one being reconciled."""
        found: list[dict] = []
        page = self.calls.get_messages(chat_id, RECONCILE_PAGE)
        for _ in range(RECONCILE_MAX_PAGES):
            found += [m for m in page if float(m.get("t") or 0) >= since]
            if len(page) < RECONCILE_PAGE or float(page[0].get("t") or 0) < since:
                break  # the chat's start, or older than the message: nothing earlier can match
            page = self.calls.get_messages(chat_id, RECONCILE_PAGE, direction="before", id=page[0]["id"])
        return found

    def download_media(self, message_id) -> str | None:
        """Store an incoming message's media once (worker/media.py); -> its media id."""
        message = db.get(Message, message_id)
        if message is None or message.media_id or not message.wa_message_id:
            return None
        if media.save_incoming(self.files, message, self.settings.media_max_bytes):
            db.commit()
            return str(message.media_id)
        db.commit()
        return None

    def mark_chat_read(self, message_id) -> None:
        message = db.get(Message, message_id)
        if message is not None:
            self.calls.mark_read(message.chat_id)


