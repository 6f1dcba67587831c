"""WhatsApp's LID addressing on a real worker and the simulator in LID mode: sends addressed by phone
are acked under the LID, incoming messages from a LID are filed under the phone number (both ids
kept), and a LID WhatsApp Web cannot map yet is stored without a number and filed once it can."""
from __future__ import annotations

import uuid

import pytest

from models import Contact, Message
from services import dispatch
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def lid_session(linked_session):
    return linked_session("lid", SEND_MIN_INTERVAL_MS="50", SEND_JITTER_MS="0")


def rows(db, **where):
    db.expire_all()
    return db.query(Message).filter_by(**where).all()


def test_a_send_to_a_number_in_lid_mode_is_acked_under_its_lid(lid_session, fresh_simulator, committed_client,
                                                               committed_db, admin):
    sim, number = fresh_simulator, "393334440001"
    lid = sim.lid(number)
    answer = committed_client.post(f"/api/whatsapp/send?session={lid_session}", headers=admin,
                                   json={"phoneNumber": number, "message": "ciao lid"})
    message_id = uuid.UUID(answer.json["data"]["messageId"])
    [arrived] = wait_until(lambda: [m for m in sim.messages() if m["body"] == "ciao lid"], 30, "the send")
    assert arrived["chatId"] == lid and arrived["id"].startswith(f"true_{lid}_")

    def sent():
        committed_db.expire_all()
        row = committed_db.get(Message, message_id)
        return row if row.status in ("SENT", "DELIVERED") and row.wa_message_id else None

    row = wait_until(sent, 30, "the row to record the send")
    assert row.wa_message_id.startswith(f"true_{number}@c.us_")  # WhatsApp Web answered by the number
    sim.ack(arrived["id"], 3)  # ...and acks under the LID
    wait_until(lambda: committed_db.get(Message, message_id).status == "READ"
               or committed_db.expire_all(), 30, "the READ ack under the LID to reach the row")


def test_incoming_messages_from_lids_are_filed_under_the_phone_number(lid_session, fresh_simulator,
                                                                      committed_client, committed_db, admin):
    sim = fresh_simulator
    known, hidden = "393334440002", "393334440003"
    known_lid, hidden_lid = sim.lid(known), sim.lid(hidden, hidden=True)

    sim.incoming(known, "from a known lid", pushname="Anna")
    [filed] = wait_until(lambda: rows(committed_db, body="from a known lid"), 30, "the incoming message")
    assert (filed.phone_number, filed.lid) == (known, known_lid)
    contact = committed_db.query(Contact).filter_by(phone_number=known).one()
    assert contact.lid == known_lid
    listed = committed_client.get(f"/api/whatsapp/messages/{known}?session={lid_session}", headers=admin).json
    assert [m["message"] for m in listed["data"]] == ["from a known lid"]

    sim.incoming(hidden, "from a hidden lid")
    [waiting] = wait_until(lambda: rows(committed_db, body="from a hidden lid"), 30, "the incoming message")
    assert (waiting.phone_number, waiting.lid) == (None, hidden_lid)  # never the LID's digits as a number
    shown = committed_client.get(f"/api/whatsapp/messages/{waiting.id}", headers=admin).json["data"]
    assert (shown["phoneNumber"], shown["lid"]) == (None, hidden_lid)

    sim.reveal_lid(hidden_lid)  # WhatsApp Web has learnt whose LID it is
    dispatch.publish_resolve_lids(lid_session)  # what beat's resolve-lids job asks the worker
    wait_until(lambda: rows(committed_db, body="from a hidden lid")[0].phone_number == hidden, 30,
               "the message to be filed under its number")
    assert committed_db.query(Contact).filter_by(phone_number=hidden).one().lid == hidden_lid
