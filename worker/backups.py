"""Session backups from the side of the worker that drives the session, the only process that owns
`tokens/<session>/` (services/backups.py does the archive, the cipher and the rows).

* `backup()`: a task (beat's periodic one, or the API's) reads the profile on the browser thread,
  so no restart or restore runs meanwhile, and stores it sealed;
* `after_close()`: on a clean shutdown, once Chromium has closed (its files are complete) and
  before the session lock is released (no other worker opens the profile meanwhile);
* `restore_missing()`: before the first boot of this process, when the profile is missing or
  empty (a new host, a wiped volume) and the session has a backup;
* `restore(backup_id)`: the operator's restore: opened and unpacked aside first, then the browser
  stops, the folders swap and the browser boots on the restored profile.

A refused backup (wrong key, altered bytes, unsafe archive) never touches the profile; it is
logged and published as a `backup` event (`action` backup or restore, `source` boot or task) with
`ok: false` and the reason.
"""
from __future__ import annotations

import logging
import uuid

from core.db import after_commit, db
from core.settings import Settings
from services import backups
from services.backups import BackupError
from worker.lifecycle import Lifecycle
from worker.machine import StateMachine
from worker.publisher import Publisher
from worker.states import State
from worker.thread import CONTROL

log = logging.getLogger(__name__)

LINKED = (State.CONNECTED, State.DISCONNECTED)  # a device WhatsApp knows: worth a backup


class ProfileBackups:
    def __init__(self, settings: Settings, lifecycle: Lifecycle, machine: StateMachine, publisher: Publisher):
        self.settings = settings
        self.name = settings.session_name
        self.profile = settings.session_profile_dir
        self.lifecycle = lifecycle
        self.machine = machine
        self.publisher = publisher
        self._restore_checked = False  # the missing-profile restore is for this process's first boot only

    @property
    def enabled(self) -> bool:
        return self.settings.backup_key is not None

    def _report(self, action: str, ok: bool, **details) -> None:
        self.publisher.emit({"type": "backup", "action": action, "ok": ok, **details})

    # -- task thread (the caller commits) ---------------------------------------------------
    def backup(self) -> str:
        """Store a backup of the linked session; -> what was done."""
        if self.machine.state not in LINKED:
            return f"skipped: the session is {self.machine.state}, not linked"
        archive = self.lifecycle.thread.call(lambda: backups.snapshot(self.profile),
                                             self.settings.browser_timeout_seconds, priority=CONTROL)
        backup = backups.store(db, self.settings, self.name, archive)
        log.info("session %s: backup %s stored (%d bytes sealed; profile %d bytes, parts kept %d bytes)",
                 self.name, backup.id, backup.size, backups.profile_bytes(self.profile),
                 backups.profile_bytes(self.profile, parts_only=True))
        after_commit(db, lambda: self._report("backup", True, backupId=str(backup.id), size=backup.size))
        return f"stored {backup.id}"

    def restore(self, backup_id: uuid.UUID | None) -> str:
        """Replace the profile with a backup and boot on it; BackupError leaves everything as it was."""
        try:
            backup = backups.find(db, self.name, backup_id)
            if backup is None:
                raise BackupError(f"session {self.name} has no backup {backup_id or ''}".rstrip())
            staged = backups.stage(backups.open_backup(self.settings, backup), self.profile)
        except BackupError as exc:
            log.error("session %s: %s", self.name, exc)
            self._report("restore", False, backupId=str(backup_id) if backup_id else None, source="task",
                         error=str(exc))
            raise
        self.lifecycle.thread.call(lambda: self._swap_and_boot(staged),
                                   self.settings.browser_timeout_seconds * 3, priority=CONTROL)
        self._report("restore", True, backupId=str(backup.id), source="task")
        return f"restored {backup.id}"

    # -- browser thread ---------------------------------------------------------------------
    def _swap_and_boot(self, staged) -> None:
        self.lifecycle.stop_browser()
        backups.swap_in(staged, self.profile)
        log.info("session %s: profile restored from a backup; starting the browser on it", self.name)
        self.lifecycle.want()
        self.lifecycle.boot(fresh=True)

    def restore_missing(self) -> None:
        """Before the first boot: restore the newest backup into a missing or empty profile.

        A refused backup is reported and the browser boots on the empty profile (a new scan); a
        database error propagates, so the boot fails and is retried, with this check again."""
        if self._restore_checked:
            return
        if not self.enabled or not backups.profile_is_empty(self.profile):
            self._restore_checked = True
            return
        try:
            backup = backups.find(db, self.name)
            if backup is not None:
                try:
                    backups.swap_in(backups.stage(backups.open_backup(self.settings, backup), self.profile),
                                    self.profile)
                    log.info("session %s: empty profile restored from backup %s", self.name, backup.id)
                    self._report("restore", True, backupId=str(backup.id), source="boot")
                except BackupError as exc:
                    log.error("session %s: %s", self.name, exc)
                    self._report("restore", False, backupId=str(backup.id), source="boot", error=str(exc))
            self._restore_checked = True
        finally:
            db.rollback()
            db.remove()

    # -- shutdown ---------------------------------------------------------------------------
    def after_close(self, was_linked: bool) -> None:
        """Back up the closed profile of a session that was linked; never stops the shutdown."""
        if not (was_linked and self.enabled):
            return
        try:
            archive = backups.snapshot(self.profile)
            backup = backups.store(db, self.settings, self.name, archive)
            db.commit()
            log.info("session %s: backup %s stored on shutdown (%d bytes sealed)", self.name, backup.id,
                     backup.size)
        except Exception:  # noqa: BLE001 - a failed backup must not keep the worker from stopping
            db.rollback()
            log.exception("session %s: the backup on shutdown failed", self.name)
        finally:
            db.remove()
