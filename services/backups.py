"""Encrypted backups of a session's browser profile: what keeps WhatsApp Web logged in, and nothing else.

A backup is a tar.gz of `PROFILE_PARTS` of `tokens/<session>/`, sealed with AES-256-GCM
(`cryptography`) under SESSION_BACKUP_KEY, with `<session>\\n<backup id>` as associated data (a row
copied under another session or id does not open), stored in `session_backups` (the newest
SESSION_BACKUP_KEEP per session are kept). Layout of the stored bytes: MAGIC, 12-byte nonce, then
the ciphertext with its 16-byte tag.

A restore opens and checks everything before it touches the profile: the stored digest, the
cipher's tag (wrong key or altered bytes), every tar entry (no absolute path, no `..`, no link or
device). Then it unpacks into a folder beside the profile and swaps the folders by rename, so the
profile is either the old one or the whole restored one, never a mix.

Only the process that drives the session reads or replaces its profile (worker/backups.py);
the API lists and queues.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tarfile
import time
import uuid
from pathlib import Path, PurePosixPath

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.settings import Settings
from models import SessionBackup

log = logging.getLogger(__name__)

# What WhatsApp Web's login lives in, relative to the profile (README "Session backups" has the
# measurements): the page's storage (localStorage, IndexedDB, sessionStorage, storage buckets) and
# cookies, plus `Local State`, which holds the profile's storage settings. Caches, the GPU and code
# caches, service-worker scripts and history are rebuilt by Chromium and left out.
PROFILE_PARTS = (
    "Local State",
    "Default/Local Storage",
    "Default/IndexedDB",
    "Default/Session Storage",
    "Default/WebStorage",
    "Default/Cookies",
    "Default/Cookies-journal",
)
# caches that newer Chromium keeps inside the storage folders (per storage bucket, in WebStorage/)
SKIPPED_FOLDERS = frozenset({"CacheStorage", "ScriptCache"})
MAGIC = b"WAB1"
NONCE_BYTES = 12
MAX_UNPACKED_BYTES = 2 * 1024**3  # a sealed archive is ours, but a bug must not fill the disk
SNAPSHOT_ATTEMPTS = 5


class BackupError(RuntimeError):
    """A backup cannot be made, or is refused on restore (the message says why)."""


# -- the archive ----------------------------------------------------------------------------
def _files(profile: Path) -> dict[str, tuple[int, int]]:
    """The files of PROFILE_PARTS -> (size, mtime in ns), by path relative to the profile."""
    found: dict[str, tuple[int, int]] = {}
    for part in PROFILE_PARTS:
        root = profile / part
        paths = [root] if root.is_file() else sorted(
            p for p in root.rglob("*")
            if p.is_file() and not SKIPPED_FOLDERS.intersection(p.relative_to(root).parts))
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted under us (a LevelDB compaction): the retry sees it
                continue
            found[path.relative_to(profile).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def _pack(profile: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name in names:
            data = (profile / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def snapshot(profile: Path) -> bytes:
    """A tar.gz of the profile's PROFILE_PARTS whose files did not change while they were read.

    A running Chromium writes its LevelDB stores now and then (compactions delete and add files);
    a copy taken across such a write may not open. So the files are listed with their sizes and
    times before and after reading, and the read is retried until both lists agree."""
    for attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            before = _files(profile)
            if not before:
                raise BackupError(f"nothing to back up in {profile}: the profile holds no login")
            archive = _pack(profile, sorted(before))
            if _files(profile) == before:
                return archive
        except FileNotFoundError:  # a file or folder went away while it was read
            pass
        time.sleep(0.2 * (attempt + 1))
    raise BackupError(f"the profile {profile} kept changing while it was read ({SNAPSHOT_ATTEMPTS} attempts)")


def profile_bytes(profile: Path, parts_only: bool = False) -> int:
    """Bytes of the whole profile's files, or of the parts a backup takes (a figure for the logs)."""
    if parts_only:
        return sum(size for size, _ in _files(profile).values())
    total = 0
    for path in profile.rglob("*"):
        try:
            if not path.is_symlink() and path.is_file():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every entry, or BackupError naming the first that could write outside the target folder."""
    members, total = tar.getmembers(), 0
    for member in members:
        path = PurePosixPath(member.name)
        if (path.is_absolute() or ".." in path.parts or "\\" in member.name or not path.parts
                or not (member.isfile() or member.isdir())):
            raise BackupError(f"refused: the backup holds an unsafe entry {member.name!r} "
                              "(absolute path, '..', link or device); nothing was restored")
        total += member.size
    if total > MAX_UNPACKED_BYTES:
        raise BackupError(f"refused: the backup unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    return members


def unpack(archive: bytes, target: Path) -> None:
    """Check every entry of `archive`, then extract it into `target` (an empty folder)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = _safe_members(tar)
            tar.extractall(target, members=members, filter="data")  # the filter checks again
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"refused: the backup is not a readable archive ({exc}); "
                          "nothing was restored") from None


# -- sealing --------------------------------------------------------------------------------
def _associated_data(session_name: str, backup_id: uuid.UUID) -> bytes:
    return f"{session_name}\n{backup_id}".encode()


def seal(key: bytes, archive: bytes, session_name: str, backup_id: uuid.UUID) -> bytes:
    # imported here: the worker pays for OpenSSL's bindings only when it seals or opens a backup
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, archive, _associated_data(session_name, backup_id))


def unseal(key: bytes, blob: bytes, session_name: str, backup_id: uuid.UUID) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise BackupError(f"refused: backup {backup_id} is not a sealed session backup")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, sealed = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES], blob[len(MAGIC) + NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, sealed, _associated_data(session_name, backup_id))
    except InvalidTag:
        raise BackupError(f"refused: backup {backup_id} of session {session_name} does not decrypt: "
                          "SESSION_BACKUP_KEY is not the key it was made with, or its bytes were "
                          "altered; nothing was restored") from None


def key_of(settings: Settings) -> bytes:
    key = settings.backup_key
    if key is None:
        raise BackupError("session backups are off: SESSION_BACKUP_KEY is not set")
    return key


# -- rows -----------------------------------------------------------------------------------
def store(session: Session, settings: Settings, session_name: str, archive: bytes) -> SessionBackup:
    """Seal `archive` (a `snapshot`) as a new backup of `session_name` and keep only the newest
    SESSION_BACKUP_KEEP. Flushes; the caller commits."""
    backup_id = uuid.uuid4()
    blob = seal(key_of(settings), archive, session_name, backup_id)
    backup = SessionBackup(id=backup_id, session_name=session_name, size=len(blob),
                           sha256=hashlib.sha256(blob).hexdigest(), ciphertext=blob)
    session.add(backup)
    session.flush()
    prune(session, session_name, settings.session_backup_keep)
    return backup


def prune(session: Session, session_name: str, keep: int) -> int:
    """Delete all but the newest `keep` backups of the session; -> how many were deleted."""
    newest = (select(SessionBackup.id).where(SessionBackup.session_name == session_name)
              .order_by(SessionBackup.created_at.desc(), SessionBackup.id.desc()).limit(keep))
    result = session.execute(delete(SessionBackup).where(SessionBackup.session_name == session_name,
                                                         SessionBackup.id.not_in(newest)))
    return result.rowcount


def listing(session: Session, session_name: str) -> list[SessionBackup]:
    """The session's backups, newest first (the bytes are not loaded)."""
    return list(session.scalars(select(SessionBackup).where(SessionBackup.session_name == session_name)
                                .order_by(SessionBackup.created_at.desc(), SessionBackup.id.desc())))


def find(session: Session, session_name: str, backup_id: uuid.UUID | None = None) -> SessionBackup | None:
    """The backup `backup_id` of the session, or its newest when no id is given."""
    if backup_id is not None:
        backup = session.get(SessionBackup, backup_id)
        return backup if backup is not None and backup.session_name == session_name else None
    backups = listing(session, session_name)
    return backups[0] if backups else None


def open_backup(settings: Settings, backup: SessionBackup) -> bytes:
    """The verified archive inside `backup`, or BackupError (corrupt in storage, wrong key, altered)."""
    blob = bytes(backup.ciphertext)
    if hashlib.sha256(blob).hexdigest() != backup.sha256 or len(blob) != backup.size:
        raise BackupError(f"refused: backup {backup.id} is corrupt in storage (its sha256 or size "
                          "does not match the recorded one); nothing was restored")
    return unseal(key_of(settings), blob, backup.session_name, backup.id)


# -- the profile folder ---------------------------------------------------------------------
def profile_is_empty(profile: Path) -> bool:
    return not profile.is_dir() or not any(profile.iterdir())


def stage(archive: bytes, profile: Path) -> Path:
    """Unpack `archive` into a new folder beside `profile` (same file system: the swap is a rename).
    Leftovers of an interrupted restore are removed first. On any failure nothing is left behind."""
    profile.parent.mkdir(parents=True, exist_ok=True)
    for leftover in profile.parent.glob(f".{profile.name}.restore-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staged = profile.parent / f".{profile.name}.restore-{uuid.uuid4().hex[:8]}"
    staged.mkdir(mode=0o700)
    try:
        unpack(archive, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def swap_in(staged: Path, profile: Path) -> None:
    """Make `staged` the profile (the browser must be closed). The old profile is renamed aside
    first and put back if the second rename fails, then deleted."""
    old = None
    if profile.exists():
        old = profile.parent / f".{profile.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.rename(profile, old)
    try:
        os.rename(staged, profile)
    except OSError:
        if old is not None:
            os.rename(old, profile)
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
