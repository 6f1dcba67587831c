"""Session backups without a browser: what goes in, sealing, retention, and every refusal on
restore (wrong key, altered bytes, another session's row, unsafe archive entries) leaving the
profile exactly as it was. Real PostgreSQL; the API routes against the real app."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from core.db import db
from core.settings import get_settings
from models import SessionBackup
from services import backups
from services.backups import BackupError

KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def settings(tmp_path):
    return replace(get_settings(), session_backup_key=KEY, session_backup_keep=3,
                   tokens_dir=str(tmp_path / "tokens"), session_name=f"b{uuid.uuid4().hex[:8]}")


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def profile(settings) -> Path:
    """A profile laid out as Chromium lays it out: the login's storage and the caches around it."""
    root = settings.session_profile_dir
    write(root / "Local State", b'{"os_crypt": {}}')
    write(root / "Default/Local Storage/leveldb/000003.log", b"_http://sim\x00\x01wa-sim:device")
    write(root / "Default/Local Storage/leveldb/CURRENT", b"MANIFEST-000001\n")
    write(root / "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000005.ldb", os.urandom(4096))
    write(root / "Default/Cookies", b"SQLite format 3\x00" + bytes(2048))
    write(root / "Default/WebStorage/QuotaManager", b"SQLite format 3\x00" + bytes(512))
    write(root / "Default/WebStorage/1/CacheStorage/index", os.urandom(50_000))
    write(root / "Default/Cache/Cache_Data/data_1", os.urandom(200_000))
    write(root / "Default/Code Cache/js/index", os.urandom(50_000))
    write(root / "Default/Service Worker/CacheStorage/abc/index", os.urandom(50_000))
    write(root / "GrShaderCache/data_0", os.urandom(30_000))
    write(root / "Default/History", bytes(40_000))
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def names_in(archive: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return set(tar.getnames())


def restore_newest(settings) -> None:
    backup = backups.find(db, settings.session_name)
    backups.swap_in(backups.stage(backups.open_backup(settings, backup), settings.session_profile_dir),
                    settings.session_profile_dir)


def test_a_backup_holds_only_the_login_storage_and_restores_it_exactly(db_session, settings, profile):
    archive = backups.snapshot(profile)
    assert names_in(archive) == {"Local State", "Default/Local Storage/leveldb/000003.log",
                                 "Default/Local Storage/leveldb/CURRENT", "Default/Cookies",
                                 "Default/WebStorage/QuotaManager",
                                 "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000005.ldb"}
    kept = {name: data for name, data in tree(profile).items() if name in names_in(archive)}

    backup = backups.store(db_session, settings, settings.session_name, archive)
    assert backup.size < backups.profile_bytes(profile) / 10
    assert backup.sha256 == hashlib.sha256(backup.ciphertext).hexdigest()
    assert b"wa-sim:device" not in backup.ciphertext  # sealed, not just compressed
    db_session.expire_all()

    shutil.rmtree(profile)
    restore_newest(settings)
    assert tree(profile) == kept
    assert [p.name for p in profile.parent.iterdir()] == [profile.name]  # no staging folder left


def test_only_the_newest_backups_are_kept(db_session, settings, profile):
    stored = [backups.store(db_session, settings, settings.session_name, backups.snapshot(profile)).id
              for _ in range(5)]
    listed = backups.listing(db_session, settings.session_name)
    assert [b.id for b in listed] == stored[::-1][:3]
    assert backups.find(db_session, settings.session_name).id == stored[-1]
    assert backups.find(db_session, settings.session_name, stored[0]) is None
    assert backups.find(db_session, "another-session", stored[-1]) is None


def refused(settings, profile, match: str) -> None:
    """The newest backup is refused with `match`, and the profile is untouched, with nothing beside it."""
    before = tree(profile)
    with pytest.raises(BackupError, match=match):
        restore_newest(settings)
    assert tree(profile) == before
    assert [p.name for p in profile.parent.iterdir()] == [profile.name]


def test_a_backup_under_another_key_is_refused(db_session, settings, profile):
    backups.store(db_session, settings, settings.session_name, backups.snapshot(profile))
    other = replace(settings, session_backup_key=base64.b64encode(os.urandom(32)).decode())
    refused(other, profile, "does not decrypt: SESSION_BACKUP_KEY is not the key it was made with")


def test_altered_bytes_are_refused_even_with_a_matching_digest(db_session, settings, profile):
    backup = backups.store(db_session, settings, settings.session_name, backups.snapshot(profile))
    altered = bytearray(backup.ciphertext)
    altered[len(altered) // 2] ^= 0x01
    db_session.execute(update(SessionBackup).where(SessionBackup.id == backup.id)
                       .values(ciphertext=bytes(altered)))
    db_session.expire_all()
    refused(settings, profile, "is corrupt in storage")

    db_session.execute(update(SessionBackup).where(SessionBackup.id == backup.id)
                       .values(sha256=hashlib.sha256(altered).hexdigest()))
    db_session.expire_all()
    refused(settings, profile, "its bytes were altered")


def test_a_backup_moved_to_another_session_is_refused(db_session, settings, profile):
    backup = backups.store(db_session, settings, "someone-else", backups.snapshot(profile))
    db_session.execute(update(SessionBackup).where(SessionBackup.id == backup.id)
                       .values(session_name=settings.session_name))
    db_session.expire_all()
    refused(settings, profile, "does not decrypt")


def archive_with(*entries: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("Default/Local Storage/leveldb/CURRENT"), io.BytesIO(b""))
        for entry in entries:
            if entry.isfile():
                entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data) if entry.isfile() else None)
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("bad", [
    entry("../escaped"),
    entry("Default/../../escaped"),
    entry("/tmp/escaped"),
    entry("Default/link", tarfile.SYMTYPE, "/etc"),
    entry("Default/hard", tarfile.LNKTYPE, "../../escaped"),
    entry("Default/dev", tarfile.CHRTYPE),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device"])
def test_an_archive_that_could_write_outside_the_profile_is_refused_whole(db_session, settings, profile, bad):
    backup_id = uuid.uuid4()
    blob = backups.seal(settings.backup_key, archive_with(bad), settings.session_name, backup_id)
    db_session.add(SessionBackup(id=backup_id, session_name=settings.session_name, size=len(blob),
                                 sha256=hashlib.sha256(blob).hexdigest(), ciphertext=blob))
    db_session.flush()
    refused(settings, profile, "unsafe entry")
    assert not (profile.parent / "escaped").exists() and not (profile.parent.parent / "escaped").exists()


def test_a_profile_without_login_storage_is_not_backed_up(settings, tmp_path):
    write(settings.session_profile_dir / "Default/Cache/data", b"cache only")
    with pytest.raises(BackupError, match="holds no login"):
        backups.snapshot(settings.session_profile_dir)


def test_backups_are_off_without_a_key(db_session, settings, profile):
    with pytest.raises(BackupError, match="SESSION_BACKUP_KEY is not set"):
        backups.store(db_session, replace(settings, session_backup_key=""), settings.session_name,
                      backups.snapshot(profile))


# -- the API ----------------------------------------------------------------------------------------
SESSION = get_settings().session_name


def test_the_routes_are_for_admins_and_know_only_known_sessions(client, admin, pro):
    assert client.get(f"/api/sessions/{SESSION}/backups", headers=pro).status_code == 403
    listed = client.get(f"/api/sessions/{SESSION}/backups", headers=admin)
    assert listed.status_code == 200 and listed.json["data"] == []
    for path in ("/api/sessions/nobody/backups", "/api/sessions/bad%20name/backups"):
        unknown = client.get(path, headers=admin)
        assert unknown.status_code == 404 and unknown.json["error"]["type"] == "NOT_FOUND"
    no_backup = client.post(f"/api/sessions/{SESSION}/restore", headers=admin, json={})
    assert no_backup.status_code == 404 and "has no backup" in no_backup.json["error"]["message"]


def test_without_a_key_a_backup_request_is_a_conflict(client, admin):
    response = client.post(f"/api/sessions/{SESSION}/backup", headers=admin)
    assert response.status_code == 409 and "SESSION_BACKUP_KEY" in response.json["error"]["message"]


@pytest.fixture
def keyed_client(database, db_session):
    from web import create_app

    return create_app(replace(get_settings(), session_backup_key=KEY)).test_client()


def test_a_session_with_backups_is_listed_and_needs_a_live_worker(keyed_client, admin, db_session, profile,
                                                                   settings):
    from services import sessions

    name = f"other{uuid.uuid4().hex[:8]}"  # a session of its own, as POST /api/sessions creates it
    sessions.create(db_session, settings, name=name, by=None)
    first = backups.store(db_session, settings, name, backups.snapshot(profile))
    second = backups.store(db_session, settings, name, backups.snapshot(profile))
    db_session.commit()  # the test's savepoint: the app's request sees it
    answer = keyed_client.get(f"/api/sessions/{name}/backups", headers=admin)
    assert answer.status_code == 200, answer.json
    listed = answer.json["data"]
    assert [b["id"] for b in listed] == [str(second.id), str(first.id)]
    assert listed[0]["size"] == second.size and listed[0]["session"] == name and listed[0]["createdAt"]

    for path, body in ((f"/api/sessions/{name}/backup", None), (f"/api/sessions/{name}/restore",
                                                                {"backupId": str(first.id)})):
        response = keyed_client.post(path, headers=admin, json=body)
        assert response.status_code == 503 and response.json["error"]["type"] == "CONNECTION_ERROR"
    missing = keyed_client.post(f"/api/sessions/{name}/restore", headers=admin,
                                json={"backupId": str(uuid.uuid4())})
    assert missing.status_code == 404


def test_beat_asks_the_sessions_own_worker_for_a_backup(monkeypatch, settings):
    import json

    import core.settings
    from core.redis import get_redis
    from tasks.backups import schedule_backups

    monkeypatch.setattr(core.settings, "_process_settings", settings)  # as in the beat worker's process
    queue = f"wa.{settings.session_name}"
    try:
        assert settings.session_name in schedule_backups().removeprefix("requested for ").split(", ")
        [raw] = get_redis().lrange(queue, 0, -1)
        headers = json.loads(raw)["headers"]
        assert headers["task"] == "tasks.backups.backup_session" and headers["expires"]
        assert json.loads(raw)["properties"]["delivery_info"]["routing_key"] == queue
    finally:
        get_redis().delete(queue)
    monkeypatch.setattr(core.settings, "_process_settings", replace(settings, session_backup_key=""))
    assert schedule_backups().startswith("skipped")
