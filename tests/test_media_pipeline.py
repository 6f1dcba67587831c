"""Media end to end: the API stores the file, a real worker streams it into WhatsApp Web (the
simulator) in chunks, and incoming media is downloaded once into the same store and served by the
API; LID mode off and on. Every byte is compared."""
from __future__ import annotations

import base64
import io
import urllib.request
import uuid

import urllib.parse

import pytest
from sqlalchemy import update

from core.redis import get_redis
from core.settings import get_settings

from models import Message
from services import dispatch, lids
from tests import media_samples as samples
from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KINDS = {  # kind -> (bytes, file name, mimetype)
    "image": (samples.jpeg(300_000, seed=5), "foto.jpg", "image/jpeg"),
    "document": (samples.pdf(2_500_000, seed=6), "contratto.pdf", "application/pdf"),  # three chunks
    "ptt": (samples.ogg_opus(40_000, seed=7), "nota.ogg", "audio/ogg"),
}


SESSION = get_settings().session_name


@pytest.fixture(scope="module")
def worker(simulator, tmp_path_factory, app):
    """One linked worker for the module on the API's default session."""
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 300, "readMs": 600})
    started = launch_linked_worker(simulator, tmp_path_factory.mktemp("media-tokens"), SESSION, 0, client,
                                   SEND_MIN_INTERVAL_MS="100", SEND_JITTER_MS="0")
    yield simulator
    stop_workers([started], client)


_numbers = iter(range(393336660001, 393336669999))


def recipient(sim, lid_mode: bool) -> str:
    number = str(next(_numbers))
    if lid_mode:
        sim.lid(number)
    return number


def received_bytes(sim, message_id: str) -> bytes:
    """What WhatsApp got: the simulator keeps each message's media."""
    with urllib.request.urlopen(f"{sim.url}/sim/page/media?id={urllib.parse.quote(message_id)}") as answer:
        return answer.read()


def row(db, message_id) -> Message:
    db.expire_all()
    return db.get(Message, message_id)


@pytest.mark.parametrize("lid_mode", [False, True], ids=["phone", "lid"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_media_is_sent_byte_exact(worker, committed_client, committed_db, admin, kind, lid_mode):
    sim, (data, name, mimetype) = worker, KINDS[kind]
    number, caption = recipient(sim, lid_mode), f"{kind} {uuid.uuid4().hex[:8]}"
    form = {"phoneNumber": number, "file": (io.BytesIO(data), name), "type": kind,
            **({"caption": caption} if kind != "ptt" else {})}
    answer = committed_client.post("/api/whatsapp/send-media", data=form, headers=admin,
                                   content_type="multipart/form-data")
    assert answer.status_code == 202, answer.json
    message_id = answer.json["data"]["messageId"]
    [arrived] = wait_until(lambda: [m for m in sim.messages() if m["to"] == number and m["type"] == kind], 60,
                           f"the {kind} to reach WhatsApp")
    assert (arrived["mimetype"], arrived["filename"]) == (mimetype, name)
    assert arrived["caption"] == (caption if kind != "ptt" else None)
    assert received_bytes(sim, arrived["id"]) == data
    read = wait_until(lambda: (m := row(committed_db, message_id)).status == "READ" and m, 30,
                      "the acks up to READ (the last write of the worker for this message)")
    assert read.wa_message_id and read.attempts == 1
    served = committed_client.get(f"/api/whatsapp/messages/{message_id}/media", headers=admin)
    assert served.status_code == 200 and served.data == data


@pytest.mark.parametrize("lid_mode", [False, True], ids=["phone", "lid"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_incoming_media_is_stored_once_and_served_byte_exact(worker, committed_client, committed_db, admin,
                                                             kind, lid_mode):
    sim, (data, name, mimetype) = worker, KINDS[kind]
    number, caption = recipient(sim, lid_mode), f"in {kind} {uuid.uuid4().hex[:8]}"
    sim.incoming(number, pushname="Giulia", type=kind, media={
        "mimetype": mimetype, "data": base64.b64encode(data).decode(), "filename": name, "caption": caption})

    def stored():
        listed = committed_client.get(f"/api/whatsapp/messages/{number}", headers=admin).json["data"]
        return next((m for m in listed if m["mediaUrl"]), None)

    message = wait_until(stored, 60, f"the incoming {kind} to be stored")
    assert (message["phoneNumber"], message["mediaType"], message["mimetype"], message["caption"]) == (
        number, kind, mimetype, caption)
    served = committed_client.get(message["mediaUrl"], headers=admin)
    assert served.status_code == 200 and served.data == data and served.mimetype == mimetype
    disposition = "attachment" if kind == "document" else "inline"
    assert served.headers["Content-Disposition"] == f"{disposition}; filename={name}"


@pytest.mark.parametrize("lid_mode", [False, True], ids=["phone", "lid"])
def test_a_media_send_left_sending_is_reconciled_by_kind_and_caption(worker, committed_client, committed_db, admin,
                                                                     lid_mode):
    """A crash between the page's send and the SENT commit: the chat holds the message (its body is
    not ours), found by kind and caption rather than sent twice."""
    sim, (data, name, _mimetype) = worker, KINDS["image"]
    number, caption = recipient(sim, lid_mode), f"ricevuta {uuid.uuid4().hex[:8]}"
    other = committed_client.post("/api/whatsapp/send-media", headers=admin, content_type="multipart/form-data",
                                  data={"phoneNumber": number, "file": (io.BytesIO(data), name),
                                        "caption": f"altra {caption}"}).json["data"]["messageId"]
    answer = committed_client.post("/api/whatsapp/send-media", headers=admin, content_type="multipart/form-data",
                                   data={"phoneNumber": number, "file": (io.BytesIO(data), name), "caption": caption})
    message_id = answer.json["data"]["messageId"]
    sent = wait_until(lambda: (m := row(committed_db, message_id)).wa_message_id and m, 60, "the send")
    whatsapp_id = sent.wa_message_id
    wait_until(lambda: row(committed_db, other).wa_message_id, 30, "the other send")
    committed_db.execute(update(Message).where(Message.id == message_id).values(
        status="SENDING", wa_message_id=None, sent_at=None, delivered_at=None, read_at=None))
    committed_db.commit()
    dispatch.publish_reconcile(message_id, SESSION)
    found = wait_until(lambda: (m := row(committed_db, message_id)).status != "SENDING" and m, 30, "the reconcile")
    assert found.status in ("SENT", "DELIVERED", "READ")
    assert lids.key_id(found.wa_message_id) == lids.key_id(whatsapp_id)  # the chat may name it by the LID
    assert len([m for m in sim.messages() if m["caption"] == caption]) == 1
    for done in (message_id, other):  # the worker's last writes land before the tables are emptied
        wait_until(lambda: row(committed_db, done).status == "READ", 30, "the acks up to READ")
