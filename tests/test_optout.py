"""Opt-out: keywords in incoming messages, bulk sends and campaigns skipping opted-out people, single
sends refused unless transactional, and an admin opting someone back in. The incoming keyword is
checked on a real worker and the simulator; the rest through the real app and PostgreSQL."""
from __future__ import annotations

import csv
import io

import pytest

from core.settings import get_settings
from models import AuditLog, Contact, Message
from models.enums import Role
from services import contacts, optout
from tests.waiting import wait_until


@pytest.mark.parametrize("text, kind", [
    ("STOP", "out"), (" stop. ", "out"), ("Annulla!", "out"), ("disiscrivi", "out"), ("Unsubscribe", "out"),
    ("start", "in"), ("ISCRIVI", "in"),
    ("please stop writing to me about the offer", None), ("stoppa", None), ("", None), (None, None),
])
def test_only_a_whole_message_that_is_a_keyword_opts_out_or_in(text, kind):
    assert optout.keyword(text, get_settings()) == kind


def opt_out(db_session, number: str) -> None:
    contacts.upsert(db_session, number)
    optout.set_opted_out(db_session, number, True, "wrote 'STOP'")
    db_session.flush()


def test_a_single_send_to_an_opted_out_number_is_refused_unless_transactional(client, pro, db_session):
    opt_out(db_session, "393335550001")
    refused = client.post("/api/whatsapp/send", headers=pro, json={"phoneNumber": "3335550001", "message": "offerta"})
    assert refused.status_code == 409
    assert refused.json["error"]["type"] == "CONFLICT" and refused.json["error"]["details"] == {"phoneNumber": ["opted out"]}
    assert db_session.query(Message).filter_by(phone_number="393335550001").count() == 0

    sent = client.post("/api/whatsapp/send", headers=pro,
                       json={"phoneNumber": "3335550001", "message": "il suo ordine è partito", "transactional": True})
    assert sent.status_code == 202
    audit = db_session.query(AuditLog).filter_by(action="message.send").one()
    assert audit.details["transactional"] is True


def test_bulk_skips_and_reports_opted_out_recipients(client, admin, db_session):
    opt_out(db_session, "393335550002")
    answer = client.post("/api/whatsapp/send-bulk", headers=admin,
                         json={"recipients": ["3335550002", "3335550003"], "message": "promo"})
    assert answer.status_code == 202, answer.json
    data = answer.json["data"]
    assert {"number": "393335550002", "reason": "opted out"} in data["invalid"]
    queued = db_session.query(Message).filter(Message.phone_number.in_(["393335550002", "393335550003"])).all()
    assert [m.phone_number for m in queued] == ["393335550003"]


def test_an_admin_opts_a_contact_back_in_and_the_list_filters_them(client, admin, pro, db_session):
    opt_out(db_session, "393335550004")
    contact = db_session.query(Contact).filter_by(phone_number="393335550004").one()
    listed = client.get("/api/whatsapp/contacts?optedOut=true", headers=admin).json["data"]
    assert [c["phoneNumber"] for c in listed] == ["393335550004"] and listed[0]["optedOutAt"]
    assert client.patch(f"/api/whatsapp/contacts/{contact.id}", headers=pro, json={"optedOut": False}).status_code == 403
    back = client.patch(f"/api/whatsapp/contacts/{contact.id}", headers=admin, json={"optedOut": False})
    assert back.status_code == 200 and back.json["data"]["optedOutAt"] is None
    assert client.post("/api/whatsapp/send", headers=pro,
                       json={"phoneNumber": "3335550004", "message": "ciao"}).status_code == 202


@pytest.mark.browser
@pytest.mark.slow
def test_an_incoming_stop_opts_the_sender_out_and_start_opts_them_in(linked_session, fresh_simulator,
                                                                    committed_client, committed_db, admin):
    name = linked_session("opt")
    def contact():
        committed_db.expire_all()
        return committed_db.query(Contact).filter_by(phone_number="393335550005").one_or_none()

    fresh_simulator.incoming("393335550005", "Stop.")
    stopped = wait_until(lambda: (c := contact()) and c.opted_out_at and c, 30, "the opt-out")
    assert "Stop." in stopped.opt_out_reason
    refused = committed_client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                                    json={"phoneNumber": "3335550005", "message": "promo"})
    assert refused.status_code == 409
    fresh_simulator.incoming("393335550005", "start")
    wait_until(lambda: (c := contact()) and c.opted_out_at is None, 30, "the opt-in")


def test_the_opted_out_list_exports_as_csv_for_an_admin_and_the_read_is_audited(client, auth_headers, db_session):
    opt_out(db_session, "393335550011")
    opt_out(db_session, "393335550012")
    contacts.upsert(db_session, "393335550013")  # never opted out
    db_session.flush()
    answer = client.get("/api/whatsapp/contacts/opted-out.csv", headers=auth_headers(Role.ADMIN))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [row["phoneNumber"] for row in rows] == ["393335550011", "393335550012"]
    assert rows[0]["reason"] == "wrote 'STOP'" and rows[0]["optedOutAt"]
    assert db_session.query(AuditLog).filter_by(action="contact.export_opted_out").count() == 1
    assert client.get("/api/whatsapp/contacts/opted-out.csv",
                      headers=auth_headers(Role.PROFESSIONAL)).status_code == 403
