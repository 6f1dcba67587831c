"""Which WhatsApp session this worker drives: it claims one, serves it, and gives it up.

Every WhatsApp worker of a deployment runs the same command line, `celery -A worker worker -Q wa.claim
-P threads -c 1`: an idle worker claims the lease (worker/lock.py) of an active session that no
other worker holds, starts consuming that session's queues (`wa.<name>`, `wa.<name>.bulk`, through
Celery's remote control) and opens its browser on the session's profile (restored from the latest
encrypted backup first when this host has none). It serves the session until

* the session is switched off or deleted (then it finishes the session's pending control commands,
  such as a deletion's logout, closes the browser, backs the profile up and frees the lease), or
* it loses the lease (frozen or cut off past it: another worker has the session by now), or
* the worker stops;

and then it claims again. CLAIM_SESSIONS (shell patterns, default `*`) limits which sessions a
worker claims, e.g. a pool of workers per host or per customer. A worker started with `-Q wa.<name>,wa.<name>.bulk` serves that one
session only, standing by while another worker holds it.

Linked sessions are claimed before never-linked ones, and a session whose holder died on this very
machine is taken over at once (worker/lock.py): when a worker dies, its restart (or any idle worker
here) takes back the account people are waiting on before a session that still needs a scan.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import logging
import threading

import redis
from celery import Celery
from sqlalchemy import or_, select

from core.db import db
from core.redis import Keys
from core.settings import Settings
from models import WaSession
from services import dispatch, outbox, sessions
from worker.backups import LINKED
from worker.delivery import Courier
from worker.inbox import Inbox
from worker.lock import SessionLock
from worker.session import WhatsAppSession

log = logging.getLogger(__name__)

CLAIM_QUEUE = "wa.claim"  # consumed only to mark a claiming worker: nothing is published there
CLAIM_EVERY = 2.0  # seconds between claim attempts of an idle worker
CHECK_EVERY = 10.0  # seconds between checks that the served session is still wanted


class Claimer:
    def __init__(self, app: Celery, hostname: str, settings: Settings, client: redis.Redis,
                 pinned: str | None = None):
        self.app = app
        self.hostname = hostname
        self.settings = settings
        self.client = client
        self.pinned = pinned
        self.session: WhatsAppSession | None = None
        self.courier: Courier | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._standing_by_for: str | None = None
        self._thread = threading.Thread(target=self._loop, name="wa-claim", daemon=True)

    # -- any thread -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The worker stops: give the session up (backup, lease released) and claim no more."""
        self._stop.set()
        self._thread.join(timeout=CLAIM_EVERY * 2)
        self._give_up("the worker is stopping")

    def driving(self) -> WhatsAppSession | None:
        session = self.session
        return session if session is not None and session.is_owner() else None

    # -- the claim thread -------------------------------------------------------------------
    def _loop(self) -> None:
        next_check = 0.0
        if not self.pinned and self._may_claim(self.settings.session_name):
            try:  # the default session (SESSION_NAME, the original API's) exists to be claimed
                sessions.ensure_default(self.settings)
            except Exception:  # noqa: BLE001 - the database may be starting: the API creates it too
                log.warning("cannot create the default session's row yet", exc_info=True)
        while not self._stop.is_set():
            try:
                if self.session is None:
                    self._claim()
                    next_check = CHECK_EVERY
                elif self._lost.is_set():
                    self._give_up("the lease was lost")
                else:
                    next_check -= CLAIM_EVERY
                    if next_check <= 0:
                        next_check = CHECK_EVERY
                        if not self._still_wanted(self.session.name):
                            self._give_up("the session is switched off or deleted")
            except Exception:  # noqa: BLE001 - the claim loop must outlive a database or Redis outage
                log.exception("claiming a WhatsApp session failed; trying again")
            finally:
                db.remove()
            self._stop.wait(CLAIM_EVERY)

    def _claim(self) -> None:
        for name in self._candidates():
            lock = SessionLock(self.client, Keys.session_lock(name), ttl=self.settings.session_lease_seconds,
                               hostname=self.hostname)
            if lock.acquire() or lock.take_over_from_dead():
                self._serve(name, lock)
                return
            if self.pinned and self._standing_by_for != name:
                log.warning("session %s is already driven by worker %s; this worker (%s) stands by and "
                            "takes over when that lease expires", name, lock.owner(), lock.token)
                self._standing_by_for = name

    def _candidates(self) -> list[str]:
        """Session names this worker may claim, linked ones first."""
        if self.pinned:
            return [self.pinned]
        rows = db.execute(select(WaSession.name, WaSession.deleted_at).where(
            or_(WaSession.active.is_(True), WaSession.deleted_at.is_not(None)))).all()
        rows = [(name, deleted_at is None) for name, deleted_at in rows if self._may_claim(name)]
        pipe = self.client.pipeline()
        for name, live in rows:  # a live session's state; a deleted one's pending commands (its logout)
            pipe.hget(Keys.session_state(name), "state") if live else pipe.llen(Keys.session_control(name))
        found = pipe.execute()
        names = [name for (name, live), value in zip(rows, found) if live or value]
        linked = {name for (name, live), value in zip(rows, found) if live and value in LINKED}
        return sorted(names, key=lambda name: (name not in linked, name))

    def _may_claim(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.settings.claim_patterns)

    def _still_wanted(self, name: str) -> bool:
        if self.pinned:
            return True
        row = sessions.by_name(db, name)
        if row is not None and row.active and row.deleted_at is None:
            return True
        return bool(self.client.llen(Keys.session_control(name)))  # let its logout run first

    def _serve(self, name: str, lock: SessionLock) -> None:
        settings = dataclasses.replace(self.settings, session_name=name)
        session = WhatsAppSession(settings, client=self.client, hostname=self.hostname, lock=lock)
        self._lost.clear()
        session.on_lost = self._lost.set
        first_connection = [True]
        session.add_listener(Inbox(name, session.client, on_connected=lambda: _recover(name, first_connection),
                                   phone_of_lid=session.calls.phone_of_lid).handle)
        self.courier = Courier(session.calls, settings, session.client)
        try:
            session.start()
        except Exception:
            session.close()  # releases the lease: another worker may do better
            self.courier = None
            raise
        self.session = session  # before the queues: their first task finds the session driven
        self._standing_by_for = None
        self._consume(name, True)

    def _give_up(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        log.info("session %s: this worker gives it up: %s", session.name, reason)
        self._consume(session.name, False)
        session.close()  # a lost lease is not released: it is another worker's now
        self.courier = None

    def _consume(self, name: str, start: bool) -> None:
        """Start or stop consuming the session's queues, through Celery's remote control: the
        consumer runs on the worker's own thread, which handles the command."""
        for queue in (dispatch.interactive_queue(name), dispatch.bulk_queue(name)):
            if start:
                self.app.control.add_consumer(queue, destination=[self.hostname])
            else:
                self.app.control.cancel_consumer(queue, destination=[self.hostname])


def _recover(session_name: str, first_connection: list[bool]) -> None:
    """On every (re)connection: remind the queue of work the rows say is pending. On the first
    one of this claim, also restart the bulk chains: their in-flight steps died with the last worker."""
    restart_all_chains = first_connection[0]
    first_connection[0] = False
    try:
        report = outbox.sweep(db, idle_seconds=0, session_name=session_name,
                              chain_idle_seconds=None if restart_all_chains else 3600)
        db.commit()
        log.info("session %s connected: recovery %s", session_name, report)
    except Exception:
        db.rollback()
        log.exception("session %s: recovery after connection failed", session_name)
    finally:
        db.remove()


def pinned_session(consumed: set[str]) -> str | None:
    """The one session a worker started with `-Q wa.<name>,wa.<name>.bulk` serves."""
    pinned = [q[len("wa."):] for q in consumed
              if q.startswith("wa.") and not q.endswith(".bulk") and q != CLAIM_QUEUE]
    if len(pinned) > 1:
        raise RuntimeError(f"a WhatsApp worker serves one session at a time, not {sorted(pinned)}: start "
                           f"it with -Q {CLAIM_QUEUE} to claim any, or with -Q wa.<name>,wa.<name>.bulk")
    return pinned[0] if pinned else None
