"""Session backups end to end: a real worker driving headless Chromium on the simulator, the real
API, PostgreSQL and Redis. A linked session is backed up (on request and on shutdown), its tokens
are wiped, and a worker on the empty TOKENS_DIR restores the profile before its browser starts and
comes back CONNECTED on the same linked device, without a scan."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update

from core.settings import get_settings
from models import SessionBackup
from services import backups
from services.session_state import read_state
from tests.fixtures.worker import forget_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SESSION = get_settings().session_name  # the API's configured session: its routes know it
KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def api(database, committed_db):
    from web import create_app

    return create_app(replace(get_settings(), session_backup_key=KEY)).test_client()


@pytest.fixture
def session_name(redis_client):
    forget_session(redis_client, SESSION)
    yield SESSION
    forget_session(redis_client, SESSION)


def login_flushed(worker) -> bool:
    """Chromium writes localStorage to disk up to seconds after a change: the simulator's device
    id on disk is the sign that the login would survive a restart."""
    store = worker.profile_dir / "Default" / "Local Storage" / "leveldb"
    return any(b"wa-sim:device" in path.read_bytes() for path in store.glob("*") if path.is_file())


def backup_count(db) -> int:
    db.expire_all()
    count = db.scalar(select(func.count()).select_from(SessionBackup)
                      .where(SessionBackup.session_name == SESSION))
    db.rollback()
    return count


def test_a_wiped_session_comes_back_connected_from_its_encrypted_backup(
        api, admin, committed_db, session_name, start_worker, fresh_simulator, events, tmp_path_factory):
    # (fixtures in this order: the workers stop, with their shutdown backups, before the tables are emptied)
    sim = fresh_simulator
    worker = start_worker(session=session_name, SESSION_BACKUP_KEY=KEY)
    worker.wait_state("QR_REQUIRED", timeout=40)
    sim.scan()
    worker.wait_state("CONNECTED", timeout=30)
    worker.wait_for(lambda: login_flushed(worker), 30, "the login on disk")
    [device] = [d["id"] for d in sim.state()["devices"] if d["linked"]]
    recorder = events(session_name)

    # a backup on request: the worker that drives the session reads its profile
    queued = api.post(f"/api/sessions/{session_name}/backup", headers=admin)
    assert queued.status_code == 202, queued.json
    worker.wait_for(lambda: any(e.get("type") == "backup" and e.get("ok") for e in recorder.events), 30,
                    "the backup event")
    [listed] = api.get(f"/api/sessions/{session_name}/backups", headers=admin).json["data"]
    full = backups.profile_bytes(worker.profile_dir)
    kept = backups.profile_bytes(worker.profile_dir, parts_only=True)
    print(f"\nprofile {full} bytes, backed-up parts {kept} bytes, stored (gzip + AES-GCM) {listed['size']}")
    assert listed["size"] < full / 4

    # and one on clean shutdown, once Chromium has closed
    assert worker.stop() == 0
    assert backup_count(committed_db) == 2
    newest = backups.find(committed_db, session_name)
    with tarfile.open(fileobj=io.BytesIO(backups.open_backup(replace(get_settings(), session_backup_key=KEY),
                                                             newest)), mode="r:gz") as tar:
        names = tar.getnames()
    committed_db.rollback()
    assert any(n.startswith("Default/Local Storage/") for n in names)
    assert not any("Cache" in n or n.startswith("Default/Service Worker") for n in names)

    # wipe: the old tokens are gone, and the next worker starts on an empty TOKENS_DIR (a new host)
    shutil.rmtree(worker.profile_dir)
    recorder = events(session_name)
    again = start_worker(session=session_name, tokens_dir=tmp_path_factory.mktemp("empty-tokens"),
                         SESSION_BACKUP_KEY=KEY)
    again.wait_state("CONNECTED", timeout=60)
    assert [d["id"] for d in sim.state()["devices"]] == [device]  # the same linked device: no new scan
    assert "QR_REQUIRED" not in recorder.states()
    assert any(e.get("action") == "restore" and e.get("source") == "boot" and e.get("ok")
               for e in recorder.events)

    # the operator's restore through the API: the browser stops, the profile swaps, it boots again
    restoring = api.post(f"/api/sessions/{session_name}/restore", headers=admin, json={})
    assert restoring.status_code == 202, restoring.json
    assert restoring.json["data"]["backupId"] == str(newest.id)
    again.wait_for(lambda: any(e.get("action") == "restore" and e.get("ok") and e.get("source") == "task"
                               for e in recorder.events), 90, "the restore through the API")
    again.wait_state("CONNECTED", timeout=60)
    assert recorder.states()[-1] == "CONNECTED" and "STOPPED" in recorder.states()
    assert [d["id"] for d in sim.state()["devices"]] == [device]
    assert read_state(session_name)["phone"] == sim.state()["me"]

    # a backup altered in the database (digest updated too) is refused by the worker before it
    # stops anything: the browser keeps running on the profile it has
    blob = bytearray(committed_db.get(SessionBackup, newest.id).ciphertext)
    blob[-20] ^= 0xFF
    committed_db.execute(update(SessionBackup).where(SessionBackup.id == newest.id)
                         .values(ciphertext=bytes(blob), sha256=hashlib.sha256(blob).hexdigest()))
    committed_db.commit()
    stops = recorder.states().count("STOPPED")
    assert api.post(f"/api/sessions/{session_name}/restore", headers=admin,
                    json={"backupId": str(newest.id)}).status_code == 202
    refusal = again.wait_for(lambda: next((e for e in recorder.events if e.get("action") == "restore"
                                           and e.get("ok") is False), None), 30, "the refusal")
    assert "does not decrypt" in refusal["error"] and "nothing was restored" in refusal["error"]
    assert recorder.states().count("STOPPED") == stops and read_state(session_name)["state"] == "CONNECTED"


def test_a_backup_under_another_key_is_refused_at_boot_and_the_session_asks_for_a_scan(
        committed_db, session_name, start_worker, fresh_simulator, events, tmp_path):
    # a backup made under KEY, of a profile that holds a (made-up) login
    login = tmp_path / "made-up" / session_name / "Default" / "Local Storage" / "leveldb"
    login.mkdir(parents=True)
    (login / "from-the-backup").write_bytes(b"not a real LevelDB file")
    made_up = replace(get_settings(), session_backup_key=KEY)
    backups.store(committed_db, made_up, session_name, backups.snapshot(login.parents[2]))
    committed_db.commit()
    recorder = events(session_name)

    other_key = base64.b64encode(os.urandom(32)).decode()
    worker = start_worker(session=session_name, SESSION_BACKUP_KEY=other_key)

    refusal = worker.wait_for(
        lambda: next((e for e in recorder.events if e.get("action") == "restore"), None), 40, "the restore attempt")
    assert refusal["ok"] is False and refusal["source"] == "boot" and "does not decrypt" in refusal["error"]
    worker.wait_state("QR_REQUIRED", timeout=40)  # booted on the empty profile instead
    assert not (worker.profile_dir / "Default" / "Local Storage" / "leveldb" / "from-the-backup").exists()
    assert [p.name for p in worker.tokens_dir.iterdir() if p.name.startswith(f".{session_name}.")] == []
