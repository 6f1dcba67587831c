"""The original API's synchronous habits against a real worker driving Chromium on the simulator:
`status.connected`, `/send` and template send with `Prefer: wait` answering with the WhatsApp id,
and the incoming-message list and mark-read flow by `id` (issue 18)."""
import time
import uuid

import pytest

from core.settings import get_settings
from models import Message
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WA = "/api/whatsapp"


@pytest.fixture
def linked(linked_session, committed_db):
    return linked_session(name=f"{get_settings().session_name}-orig", SEND_MIN_INTERVAL_MS="0", SEND_JITTER_MS="0")


def test_the_original_clients_synchronous_flows_work_with_prefer_wait(linked, fresh_simulator, committed_client,
                                                                       committed_db, admin):
    session = linked
    status = committed_client.get(f"{WA}/status?session={session}", headers=admin).json["data"]
    assert status["connected"] is True and status["state"] == "CONNECTED"

    tag = uuid.uuid4().hex
    started = time.monotonic()
    sent = committed_client.post(f"{WA}/send?session={session}", headers={**admin, "Prefer": "wait=10"},
                                 json={"phoneNumber": "393336660001", "message": f"Ciao {tag}"})
    elapsed = time.monotonic() - started
    assert sent.status_code == 200, sent.json
    assert sent.headers["Preference-Applied"] == "wait=10"
    assert sent.json["message"] == "Messaggio inviato con successo"
    data = sent.json["data"]
    [arrived] = [m for m in fresh_simulator.messages() if tag in (m.get("body") or "")]
    assert data["status"] in ("SENT", "DELIVERED", "READ") and data["waMessageId"] == arrived["id"]
    committed_db.expire_all()
    assert committed_db.get(Message, data["messageId"]).wa_message_id == arrived["id"]
    print(f"\n/send with Prefer: wait=10 answered 200 in {elapsed * 1000:.0f} ms")

    template = committed_client.post(f"{WA}/templates", headers=admin, json={
        "name": f"Conferma {tag}", "category": "notification", "content": "Ordine {{numero}} confermato"}).json["data"]
    by_template = committed_client.post(f"{WA}/templates/{template['id']}/send?session={session}",
                                        headers={**admin, "Prefer": "wait=10"},
                                        json={"phoneNumber": "393336660002", "variables": {"numero": tag}})
    assert by_template.status_code == 200 and by_template.json["data"]["waMessageId"]
    assert by_template.json["data"]["message"] == f"Ordine {tag} confermato"

    fresh_simulator.not_on_whatsapp("393336660003")
    refused = committed_client.post(f"{WA}/send?session={session}", headers={**admin, "Prefer": "wait=10"},
                                    json={"phoneNumber": "393336660003", "message": "nessuno"})
    assert refused.status_code == 200 and refused.json["data"]["status"] == "FAILED"
    assert refused.json["data"]["errorType"] == "NOT_WHATSAPP"
    assert refused.json["message"] == "Invio del messaggio non riuscito: Il numero non usa WhatsApp."

    # the original's list and mark-read flow, by `id`
    fresh_simulator.incoming("393336660004", f"risposta {tag}", pushname="Cliente")

    def stored():
        page = committed_client.get(f"{WA}/messages?session={session}&direction=incoming&q={tag}", headers=admin)
        return page.json["data"]

    [incoming] = wait_until(stored, 20, "the incoming message in /messages")
    read = committed_client.post(f"{WA}/messages/{incoming['id']}/read", headers=admin)
    assert read.status_code == 200 and read.json["data"]["status"] == "READ"
    assert read.json["message"] == "Messaggio segnato come letto"
