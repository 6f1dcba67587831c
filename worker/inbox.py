"""The session's events into PostgreSQL: incoming messages (and their senders), and acks.

Runs on the session's event-dispatcher thread, one short transaction per event.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.dialects.postgresql import insert

import redis

from core.db import after_commit, db
from models import Message
from models.enums import Direction, MessageStatus
from core.settings import current_settings
from services import contacts, dispatch, events, groups, lids, messages, optout
from services.messages import AckResult
from worker.delivery import pending_ack_key

log = logging.getLogger(__name__)

PARK_SECONDS = 600  # a send whose outcome is uncertain is reconciled well within this
DATABASE_WAIT_SECONDS = 120
STATE_FIELDS = ("state", "since", "phone", "name", "error")  # of worker.machine's state event


class Inbox:
    def __init__(self, session_name: str, client: redis.Redis, on_connected=None,
                 phone_of_lid: Callable[[str], str | None] | None = None):
        self.session_name = session_name
        self.client = client
        self.on_connected = on_connected
        self.phone_of_lid = phone_of_lid  # asks WhatsApp Web (worker/calls.py); None: the cache only

    def handle(self, event: dict) -> None:
        """Store one event. While the database is away (a restart, a failover) the event is tried
        again every second for DATABASE_WAIT_SECONDS: the events behind it wait in the dispatcher's
        queue, in order, rather than being dropped. Any other failure drops only this event."""
        handler = {"incoming": self._incoming, "ack": self._ack, "state": self._state,
                   "qr": self._qr, "participant_changed": self._participant_changed}.get(event.get("type"))
        if handler is None:
            return
        for attempt in range(DATABASE_WAIT_SECONDS + 1):
            try:
                handler(event)
                db.commit()
                return
            except OperationalError as exc:
                db.rollback()
                if attempt == 0:
                    log.warning("session %s: database away, event %s waits: %s", self.session_name,
                                event.get("type"), str(exc).splitlines()[0])
                if attempt == DATABASE_WAIT_SECONDS:
                    log.error("session %s: database away for %d s, event %s dropped: %s", self.session_name,
                              DATABASE_WAIT_SECONDS, event.get("type"), str(exc).splitlines()[0])
                    return
                time.sleep(1)
            except Exception:  # one bad event must not stop the pump
                db.rollback()
                log.exception("session %s: could not store event %s", self.session_name, event.get("type"))
                return
            finally:
                db.remove()

    def _incoming(self, event: dict) -> None:
        msg = event.get("message") or {}
        if msg.get("fromMe") or not msg.get("id"):
            return
        is_group = bool(msg.get("isGroupMsg"))
        sender, lid = self._person(msg.get("author") if is_group else msg.get("from"))
        sent_at = datetime.fromtimestamp(float(msg["t"]), timezone.utc) if msg.get("t") else None
        received = messages.now()
        statement = insert(Message).values(
            session=self.session_name, direction=Direction.INCOMING.value, status=MessageStatus.DELIVERED.value,
            phone_number=sender, lid=lid, chat_id=msg.get("chat") or msg.get("from"), body=msg.get("body"),
            sender_name=msg.get("notifyName"), from_me=False, is_group_msg=is_group,
            mimetype=msg.get("mimetype"), caption=msg.get("caption"), wa_message_id=msg["id"],
            media_type=msg.get("type") if msg.get("mimetype") else None, filename=msg.get("filename"),
            timestamp=sent_at, created_at=received, delivered_at=received, attempts=0,
        ).on_conflict_do_nothing(index_elements=["session", "wa_message_id"],
                                 index_where=text("wa_message_id IS NOT NULL")).returning(Message.id)
        message_id = db.execute(statement).scalar()
        if message_id:
            events.message_changed(db, "message.received", [db.get(Message, message_id)])
        if message_id and msg.get("mimetype"):
            after_commit(db, lambda: dispatch.publish_download_media(message_id, self.session_name))
        if sender:
            contacts.upsert(db, sender, pushname=msg.get("notifyName"), last_message_at=received,
                            has_whatsapp=True, whatsapp_checked_at=received)
            if message_id and (kind := optout.keyword(msg.get("body"), current_settings())):
                optout.set_opted_out(db, sender, kind == "out", f"wrote {msg.get('body')!r}", self.session_name)

    def _person(self, wid: str | None) -> tuple[str | None, str | None]:
        """(phone digits, LID) of a sender (services/lids.py `person`): a LID not mapped yet is
        stored without a number and resolved later (`resolve_lids`)."""
        return lids.person(db, wid, self.phone_of_lid)

    def _participant_changed(self, event: dict) -> None:
        groups.record_participant_change(db, self.session_name, event, self._person)

    def _ack(self, event: dict) -> None:
        ack = int(event.get("ack") or 0)
        for wa_id in event.get("ids") or []:
            if wa_id and messages.apply_ack(db, self.session_name, wa_id, ack) == AckResult.UNKNOWN:
                self._park(wa_id, ack)

    def _park(self, wa_id: str, ack: int) -> None:
        """An ack for a row not (yet) known by this id: the page often sees acks before the send
        call returns, so before the courier commits SENT with the id. Park it where the courier
        looks right after that commit (`Courier._record_sent`), then look at the rows again: a
        commit that landed after the first look, its courier's look made before this park, would
        leave the ack parked for nobody. Each side writes then reads, so one of them sees the other."""
        client, key = self.client, pending_ack_key(self.session_name, wa_id)
        parked = max(ack, int(client.get(key) or 0))  # only this thread parks: no lost update
        client.set(key, parked, ex=PARK_SECONDS)
        db.commit()  # the second look in a new transaction: it must see the courier's commit
        if messages.apply_ack(db, self.session_name, wa_id, parked) != AckResult.UNKNOWN:
            client.delete(key)  # applied here; the courier finds nothing or applies a stale ack

    def _state(self, event: dict) -> None:
        events.session_state(db, self.session_name, {key: event.get(key) or None for key in STATE_FIELDS})
        if event.get("state") == "CONNECTED" and self.on_connected:
            self.on_connected()

    def _qr(self, event: dict) -> None:
        events.session_qr(db, self.session_name, event.get("qr") or "", event.get("qr_at") or "")
