"""Personal data (GDPR) on the real app and PostgreSQL (and Redis): after an erasure no table, file or
Redis key holds the number or its texts; an export holds exactly the person's messages and media,
byte-exact; retention blanks what is older in short batches and leaves the statistics unchanged."""
from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import text

from core.redis import get_redis
from core.settings import get_settings
from models import (AuditLog, Base, BulkJob, CheckJob, Contact, ErrorCounter, IdempotencyKey, Media, Message,
                    MessageEvent, ScheduledMessage)
from models.enums import Role
from services import media as media_store
from services import privacy
from services.messages import now

PERSON, OTHER, LID = "393336660001", "393336660002", "123456789012345@lid"


@pytest.fixture
def root(auth_headers):
    return auth_headers(Role.SUPER_ADMIN)


def add_message(db, number: str | None, body: str, direction: str = "incoming", *, lid: str | None = None,
                media: bytes | None = None, status: str = "DELIVERED", days_ago: float = 0):
    message = Message(session=get_settings().session_name, direction=direction, status=status, phone_number=number,
                      lid=lid, chat_id=f"{number or lid}@c.us", body=body, from_me=direction == "outgoing",
                      attempts=0, created_at=now() - timedelta(days=days_ago))
    db.add(message)
    db.flush()
    if media is not None:  # as the worker stores an incoming file
        stored = media_store.store(db, session_name=message.session, chunks=[media], kind="document",
                                   filename="doc.pdf", max_bytes=10**6, direction="incoming")
        message.media_id, message.mimetype, message.caption = stored.id, stored.mimetype, f"caption {body}"
    db.add(MessageEvent(message_id=message.id, status="RETRY", detail=f"{number} answered slowly"))
    db.flush()
    return message


def a_person_everywhere(db, client, pro, tmp_path):
    """The person in every place the gateway keeps something about people; OTHER beside them."""
    db.add(Contact(phone_number=PERSON, lid=LID, name="Maria Rossi", pushname="Maria"))
    db.add(Contact(phone_number=OTHER, name="Luca"))
    add_message(db, PERSON, "ciao, sono Maria", media=b"%PDF-1.4 maria")
    add_message(db, None, "scritto dal LID", lid=LID)  # not resolved yet: the LID is theirs too
    add_message(db, PERSON, "risposta", direction="outgoing", status="READ")
    add_message(db, OTHER, "ciao da Luca")
    queued = client.post("/api/whatsapp/send", headers={**pro, "Idempotency-Key": uuid.uuid4().hex},
                         json={"phoneNumber": PERSON, "message": "in coda"})
    assert queued.status_code == 202  # a QUEUED row, its audit row and an idempotency answer name them
    db.add(ScheduledMessage(session=get_settings().session_name, recipients=[PERSON], body="promemoria",
                            send_at=now() + timedelta(days=1), next_run_at=now() + timedelta(days=1)))
    db.add(ScheduledMessage(session=get_settings().session_name, recipients=[PERSON, OTHER], body="a tutti",
                            send_at=now() + timedelta(days=1), next_run_at=now() + timedelta(days=1)))
    db.add(BulkJob(session=get_settings().session_name, total=1, invalid=[{"number": PERSON, "reason": "opted out"}]))
    db.add(CheckJob(session=get_settings().session_name, numbers=[PERSON, OTHER], position=2, status="DONE"))
    db.merge(ErrorCounter(session=get_settings().session_name, error_type="NOT_WHATSAPP", count=1,
                          last_message=f"{PERSON} is not on WhatsApp"))
    db.flush()


def tables_mentioning(db, needle: str) -> dict[str, int]:
    found = {}
    for table in Base.metadata.sorted_tables:
        count = db.execute(text(f'SELECT count(*) FROM "{table.name}" t WHERE t::text LIKE :needle'),
                           {"needle": f"%{needle}%"}).scalar()
        if count:
            found[table.name] = count
    return found


def redis_mentions(needle: str) -> list[str]:
    client, found = get_redis(), []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values = {"string": lambda: [client.get(key)], "hash": lambda: list(client.hgetall(key).values()),
                  "list": lambda: client.lrange(key, 0, -1), "set": lambda: list(client.smembers(key)),
                  "zset": lambda: client.zrange(key, 0, -1)}.get(kind, lambda: [])()
        if needle in key or any(needle in str(v) for v in values):
            found.append(key)
    return found


def test_an_erasure_leaves_no_trace_of_the_number_and_keeps_the_others(client, pro, root, db_session, tmp_path):
    a_person_everywhere(db_session, client, pro, tmp_path)
    assert tables_mentioning(db_session, PERSON)  # the fixture did put them everywhere

    answer = client.post("/api/privacy/erasure", headers=root, json={"phoneNumber": "+39 333 666 0001"})
    assert answer.status_code == 200, answer.json
    data = answer.json["data"]
    erased = data["erased"]
    assert erased["queued_cancelled"] == 1 and erased["messages"] == 3 and erased["contacts"] == 1
    assert erased["media_files"] == 1 and db_session.query(Media).count() == 0
    db_session.expire_all()
    assert tables_mentioning(db_session, PERSON) == {}
    assert tables_mentioning(db_session, LID) == {}
    assert tables_mentioning(db_session, "sono Maria") == {} and tables_mentioning(db_session, "Maria Rossi") == {}
    assert redis_mentions(PERSON) == []

    # the others keep theirs; the schedule for the person alone is cancelled, the shared one goes on
    assert db_session.query(Message).filter_by(phone_number=OTHER).count() == 1
    schedules = {tuple(s.recipients): s.status for s in db_session.query(ScheduledMessage)}
    assert schedules == {(): "CANCELLED", (OTHER,): "ACTIVE"}
    assert db_session.query(CheckJob).one().numbers == [privacy.ERASED, OTHER]
    assert db_session.query(IdempotencyKey).count() == 0
    assert db_session.query(ErrorCounter).one().last_message is None
    audit = db_session.query(AuditLog).filter_by(action="privacy.erasure").one()
    assert audit.target == f"person:{data['numberHash']}" and audit.details["erased"] == erased

    again = client.post("/api/privacy/erasure", headers=root, json={"phoneNumber": PERSON})
    assert again.status_code == 200 and not any(again.json["data"]["erased"].values())


def test_only_a_super_admin_erases_or_exports(client, auth_headers):
    for role in (Role.CLIENT, Role.PROFESSIONAL, Role.ADMIN):
        headers = auth_headers(role)
        assert client.post("/api/privacy/erasure", headers=headers, json={"phoneNumber": PERSON}).status_code == 403
        assert client.get(f"/api/privacy/export?phoneNumber={PERSON}", headers=headers).status_code == 403


def test_bad_numbers_get_a_clear_4xx(client, root):
    assert client.post("/api/privacy/erasure", headers=root, json={"phoneNumber": "not a number"}).status_code == 422
    assert client.post("/api/privacy/erasure", headers=root, json={}).status_code == 422
    assert client.get("/api/privacy/export", headers=root).status_code == 422


def test_an_export_holds_exactly_the_persons_messages_and_media(client, pro, root, db_session, tmp_path):
    a_person_everywhere(db_session, client, pro, tmp_path)
    answer = client.get(f"/api/privacy/export?phoneNumber={PERSON}", headers=root)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    contact = json.loads(archive.read("contact.json"))
    assert (contact["phoneNumber"], contact["lid"], contact["name"]) == (PERSON, LID, "Maria Rossi")
    exported = json.loads(archive.read("messages.json"))
    theirs = db_session.query(Message).filter((Message.phone_number == PERSON) | (Message.lid == LID)).all()
    assert sorted(m["id"] for m in exported) == sorted(str(m.id) for m in theirs)
    assert all(m["history"] for m in exported)
    [media_name] = [n for n in archive.namelist() if n.startswith("media/")]
    assert archive.read(media_name) == b"%PDF-1.4 maria"
    assert db_session.query(AuditLog).filter_by(action="privacy.export").count() == 1
    assert tables_mentioning(db_session, "privacy.export") and not db_session.query(AuditLog).filter(
        AuditLog.action == "privacy.export", AuditLog.target.contains(PERSON)).count()


def test_retention_blanks_old_messages_in_batches_and_keeps_the_statistics(db_session, tmp_path):
    from services import stats

    settings = get_settings()
    old = [add_message(db_session, OTHER, f"vecchio {i}", days_ago=400, media=b"%PDF-1.4 x")
           for i in range(5)]
    recent = add_message(db_session, OTHER, "recente", days_ago=10)
    db_session.add(Contact(phone_number="393336660009", name="mai scritto"))
    db_session.flush()
    db_session.execute(text("UPDATE contacts SET updated_at = now() - interval '400 days' "
                            "WHERE phone_number = '393336660009'"))
    before = stats.detailed(db_session, 30, settings.timezone, settings.session_name)

    report = privacy.purge_expired(db_session, settings, batch=2)
    assert (report.messages_blanked, report.batches, report.media_files, report.contacts_deleted) == (5, 3, 5, 1)
    db_session.expire_all()
    assert all(db_session.get(Message, m.id).body is None and db_session.get(Message, m.id).media_id is None
               for m in old)
    assert db_session.get(Message, recent.id).body == "recente"
    assert report.oldest_kept == db_session.get(Message, recent.id).created_at
    assert db_session.query(Media).count() == 0
    assert stats.detailed(db_session, 30, settings.timezone, settings.session_name) == before
    assert db_session.query(AuditLog).filter_by(action="privacy.retention").one().details["messagesBlanked"] == 5


def test_log_lines_carry_no_phone_number_or_lid(caplog):
    import logging

    from core.logs import MaskPersonalData, mask

    assert mask(f"to {PERSON}, +{OTHER}, true_{PERSON}@c.us_3EB0AA, {LID}") == \
        "to 393***01, +393***02, true_393***01@c.us_3EB0AA, 123***45@lid"
    assert mask("message 3f2c1d4e-1234-5678-9abc-def012345678 took 1796012918.5 s") == \
        "message 3f2c1d4e-1234-5678-9abc-def012345678 took 1796012918.5 s"  # ids and times stay
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "existence check of %s refused", (PERSON,), None)
    assert MaskPersonalData().filter(record) and record.getMessage() == "existence check of 393***01 refused"
