"""The "has WhatsApp?" check and the contact sync against the simulator, through a real worker:
the first answer comes from the session, the second from the contact's cache; batch checks are
paced apart from sends."""

import pytest

from core.redis import get_redis
from models import CheckJob, Contact
from models.enums import Role
from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHECK_INTERVAL_MS = 700


@pytest.fixture(scope="module")
def session_worker(simulator, tmp_path_factory, app):
    session = app.config["SETTINGS"].session_name
    client = get_redis()
    forget_session(client, session)
    simulator.reset()
    tokens = tmp_path_factory.mktemp("check-tokens")
    worker = launch_linked_worker(simulator, tokens, session, 0, client,
                                  CHECK_MIN_INTERVAL_MS=str(CHECK_INTERVAL_MS), SEND_MIN_INTERVAL_MS="100")
    yield simulator
    stop_workers([worker], client)



def contact(db, number):
    db.expire_all()
    return db.query(Contact).filter_by(phone_number=number).one_or_none()


def test_first_answer_from_the_session_second_from_the_cache(session_worker, committed_client, committed_db,
                                                             auth_headers):
    sim = session_worker
    pro = auth_headers(Role.PROFESSIONAL)
    sim.not_on_whatsapp("393339990002")
    body = {"number": "333 999 0001", "checkWhatsApp": True, "waitSeconds": 20}
    first = committed_client.post("/api/whatsapp/validate-number", json=body, headers=pro)
    assert first.status_code == 200 and first.json["data"]["hasWhatsApp"] is True
    assert first.json["message"] == "Risposta della sessione"  # Italian by default, as errors
    checked_at = contact(committed_db, "393339990001").whatsapp_checked_at
    assert checked_at is not None

    second = committed_client.post("/api/whatsapp/validate-number", json=body,
                                   headers={**pro, "Accept-Language": "en-GB,en;q=0.9"})
    assert second.status_code == 200 and second.json["data"]["hasWhatsApp"] is True
    assert second.json["message"] == "cached answer"
    assert contact(committed_db, "393339990001").whatsapp_checked_at == checked_at  # no second query
    assert committed_db.query(CheckJob).count() == 1

    absent = committed_client.post("/api/whatsapp/validate-number",
                                   json={**body, "number": "+39 333 999 0002"}, headers=pro)
    assert absent.status_code == 200 and absent.json["data"]["hasWhatsApp"] is False


def test_batch_checks_are_a_paced_job(session_worker, committed_client, committed_db, auth_headers):
    sim = session_worker
    pro = auth_headers(Role.PROFESSIONAL)
    sim.not_on_whatsapp("393339990012")
    numbers = ["3339990011", "3339990012", "3339990013", "bad"]
    batch = committed_client.post("/api/whatsapp/validate-batch", json={"numbers": numbers, "checkWhatsApp": True},
                                  headers=pro).json["data"]
    job_id = batch["whatsAppCheck"]["jobId"]

    def done():
        data = committed_client.get(f"/api/whatsapp/whatsapp-checks/{job_id}", headers=pro).json["data"]
        return data["status"] == "DONE" and data

    data = wait_until(done, 30, "the batch check")
    answers = {r["phoneNumber"]: r["hasWhatsApp"] for r in data["results"]}
    assert answers == {"393339990011": True, "393339990012": False, "393339990013": True}
    times = sorted(contact(committed_db, n).whatsapp_checked_at for n in answers)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert min(gaps) >= CHECK_INTERVAL_MS / 1000 * 0.95, gaps


def test_contact_sync_pulls_the_phone_contacts(session_worker, committed_client, committed_db, auth_headers):
    sim = session_worker
    sim.incoming("393339990021", "ciao", pushname="Rubrica Uno")
    wait_until(lambda: contact(committed_db, "393339990021"), 20, "the sender's contact")
    committed_db.query(Contact).filter_by(phone_number="393339990021").delete()
    committed_db.commit()

    task_id = committed_client.post("/api/whatsapp/contacts/sync", headers=auth_headers(Role.ADMIN)).json["data"]["taskId"]
    pro = auth_headers(Role.PROFESSIONAL)
    status = wait_until(lambda: (s := committed_client.get(f"/api/whatsapp/contacts/sync/{task_id}", headers=pro)
                                 .json["data"])["status"] in ("SUCCESS", "FAILURE") and s, 30, "the sync")
    assert status["status"] == "SUCCESS" and status["synced"] >= 1
    assert contact(committed_db, "393339990021").pushname == "Rubrica Uno"
