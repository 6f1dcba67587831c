"""A client of the original Node system, written from its documented requests and the fields it
reads (issue 18), run against the real app: same paths, bodies and fields. Where this gateway
queues instead of sending at once, the test follows what the migration section of README says."""
import logging
import time

import pytest

from core.settings import load_settings
from models import BulkJob, Message
from services import contacts, messages as messages_service

WA = "/api/whatsapp"


def test_status_has_connected_beside_state(client, pro, app):
    """The original panel reads `status.connected` to decide whether to show the QR (true with a
    linked worker: test_original_api_live.py)."""
    status = client.get(f"{WA}/status", headers=pro).json["data"]
    assert status["connected"] is False and status["state"] != "CONNECTED"


def test_send_answers_in_italian_and_english_on_request(client, pro):
    body = {"phoneNumber": "393331234567", "message": "Ciao Mario"}
    italian = client.post(f"{WA}/send", json=body, headers=pro)
    assert italian.status_code == 202 and italian.json["success"] is True
    assert italian.json["message"] == "Messaggio messo in coda per l'invio"
    english = client.post(f"{WA}/send", json={**body, "message": "Hi"}, headers={**pro, "Accept-Language": "en"})
    assert english.json["message"] == "message queued"
    # the original's alias of phoneNumber
    assert client.post(f"{WA}/send", json={"recipient": "3331234567", "message": "x"}, headers=pro).status_code == 202


def test_message_items_carry_id_for_the_list_and_mark_read_flows(client, pro):
    sent = client.post(f"{WA}/send", json={"phoneNumber": "393331234568", "message": "Ciao"}, headers=pro).json
    [item] = client.get(f"{WA}/messages/393331234568", headers=pro).json["data"]
    assert item["id"] == item["messageId"] == sent["data"]["messageId"]
    one = client.get(f"{WA}/messages/{item['id']}", headers=pro).json["data"]
    assert one["id"] == item["id"]
    # the read flow takes that id (only an incoming message can be read: a live one below)
    refused = client.post(f"{WA}/messages/{item['id']}/read", headers=pro)
    assert refused.status_code == 409 and refused.json["error"]["details"] == {}


def test_errors_always_carry_a_details_object(client, pro):
    no_body = client.post(f"{WA}/send", data="not json", headers={**pro, "Content-Type": "application/json"})
    missing = client.get(f"{WA}/messages/00000000-0000-0000-0000-000000000000", headers=pro)
    anonymous = client.get(f"{WA}/status")
    for answer, status in ((no_body, 400), (missing, 404), (anonymous, 401)):
        assert answer.status_code == status
        error = answer.json["error"]
        assert isinstance(error["details"], dict), error
        assert error["userMessage"] and error["suggestions"]
    assert missing.json["error"]["details"] == {} and anonymous.json["error"]["details"] == {}


def test_send_bulk_keeps_the_original_fields_and_jobs_list_each_recipients_outcome(client, admin, db_session):
    answer = client.post(f"{WA}/send-bulk", headers=admin, json={
        "recipients": ["393331110001", "393331110002", "393331110003", "12"], "message": "Promo"})
    assert answer.status_code == 202
    data = answer.json["data"]
    assert data["sent"] == [] and data["failed"] == [] and len(data["queued"]) == 3
    assert [i["number"] for i in data["invalid"]] == ["12"]
    assert answer.json["message"] == "3 messaggi in coda, 1 numeri non validi"

    # the worker records outcomes with the same services (tests/test_pipeline.py does it live)
    rows = {m.phone_number: m for m in db_session.query(Message).filter_by(bulk_job_id=data["jobId"])}
    for number in ("393331110001", "393331110002"):
        rows[number].status = "SENDING"
        messages_service.mark_sent(db_session, rows[number], f"true_{number}@c.us_3EB0{number[-4:]}")
    messages_service.mark_failed(db_session, rows["393331110003"], "NOT_WHATSAPP", "not on WhatsApp")
    db_session.flush()

    job = client.get(f"{WA}/jobs/{data['jobId']}?limit=2", headers=admin).json
    assert job["data"]["sent"] == 2 and job["data"]["failed"] == 1 and len(job["data"]["recipients"]) == 2
    more = client.get(f"{WA}/jobs/{data['jobId']}?limit=2&cursor={job['nextCursor']}", headers=admin).json
    assert more["nextCursor"] is None
    outcomes = {r["phoneNumber"]: r for r in job["data"]["recipients"] + more["data"]["recipients"]}
    assert {n: r["status"] for n, r in outcomes.items()} == {
        "393331110001": "SENT", "393331110002": "SENT", "393331110003": "FAILED"}
    assert outcomes["393331110001"]["waMessageId"] == "true_393331110001@c.us_3EB00001"
    assert outcomes["393331110003"]["errorType"] == "NOT_WHATSAPP"
    # the original's `sent` list, from the job
    sent = client.get(f"{WA}/jobs/{data['jobId']}?status=SENT", headers=admin).json["data"]["recipients"]
    assert sorted(r["phoneNumber"] for r in sent) == ["393331110001", "393331110002"]
    bad = client.get(f"{WA}/jobs/{data['jobId']}?status=SOMETIMES", headers=admin)
    assert bad.status_code == 422


@pytest.fixture
def template_id(client, admin):
    answer = client.post(f"{WA}/templates", headers=admin, json={
        "name": "Promo originale", "category": "marketing", "content": "Ciao {{nome}}, sconto {{sconto}}!"})
    return answer.json["data"]["id"]


def test_template_send_bulk_accepts_plain_numbers_with_shared_variables(client, admin, db_session, template_id):
    answer = client.post(f"{WA}/templates/{template_id}/send-bulk", headers=admin, json={
        "recipients": ["393332220001", "393332220002"], "variables": {"nome": "cliente", "sconto": "10%"}})
    assert answer.status_code == 202, answer.json
    data = answer.json["data"]
    assert data["queued"] == ["393332220001", "393332220002"] and data["errors"] == []
    bodies = {m.body for m in db_session.query(Message).filter_by(bulk_job_id=data["jobId"])}
    assert bodies == {"Ciao cliente, sconto 10%!"}

    mixed = client.post(f"{WA}/templates/{template_id}/send-bulk", headers=admin, json={
        "recipients": ["393332220003", {"phoneNumber": "393332220004", "variables": {"nome": "Anna"}}],
        "variables": {"nome": "cliente", "sconto": "5%"}})
    assert mixed.status_code == 202
    rows = db_session.query(Message).filter_by(bulk_job_id=mixed.json["data"]["jobId"])
    assert {m.phone_number: m.body for m in rows} == {"393332220003": "Ciao cliente, sconto 5%!",
                                                     "393332220004": "Ciao Anna, sconto 5%!"}

    for recipients in ([42], [None], [["393332220005"]], [{"variables": {}}]):
        refused = client.post(f"{WA}/templates/{template_id}/send-bulk", headers=admin,
                              json={"recipients": recipients, "variables": {"nome": "x", "sconto": "1"}})
        assert refused.status_code == 422 and "recipients" in refused.json["error"]["details"]["json"], recipients
    assert db_session.query(BulkJob).count() == 2


def test_validate_number_includes_a_cached_has_whatsapp_without_asking_the_session(client, pro, db_session):
    unknown = client.post(f"{WA}/validate-number", json={"number": "+39 333 444 0001"}, headers=pro).json["data"]
    assert unknown["isValid"] is True and "hasWhatsApp" not in unknown
    contacts.record_existence(db_session, "393334440001", True)  # what the session answered earlier
    db_session.flush()
    answer = client.post(f"{WA}/validate-number", json={"number": "+39 333 444 0001"}, headers=pro)
    assert answer.status_code == 200 and answer.json["data"]["hasWhatsApp"] is True
    assert answer.json["data"]["formatted"] == "393334440001"
    # no worker runs here: a request that asked the session would have queued a check job
    from models import CheckJob
    assert db_session.query(CheckJob).count() == 0


def test_the_original_environment_variables_are_aliases_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="core.settings")
    settings = load_settings({"WPPCONNECT_SESSION_NAME": "vendite", "WPPCONNECT_HEADLESS": "false",
                              "WPPCONNECT_AUTO_CLOSE": "60000", "WHATSAPP_PROVIDER": "wppconnect"})
    assert settings.session_name == "vendite" and settings.headless is False
    text = caplog.text
    assert "WPPCONNECT_SESSION_NAME" in text and "SESSION_NAME" in text and "HEADLESS" in text
    assert "WPPCONNECT_AUTO_CLOSE" in text and "WHATSAPP_PROVIDER" in text
    caplog.clear()
    both = load_settings({"WPPCONNECT_SESSION_NAME": "vecchio", "SESSION_NAME": "nuovo"})
    assert both.session_name == "nuovo" and "the new name wins" in caplog.text
    with pytest.raises(Exception, match="SESSION_NAME"):
        load_settings({"WPPCONNECT_SESSION_NAME": "Not A Name"})
    caplog.clear()
    assert load_settings({}).session_name == "assistenza" and caplog.text == ""  # without them: no warning


# -- Prefer: wait (RFC 7240) -----------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None), ("wait=10", 10), ("respond-async, wait=5", 5), ("WAIT = 7", 7),
    ('wait="3"', 3), ("wait=100", 30), ("wait=0", 0), ("wait=-1", None), ("wait=soon", None),
    ("return=minimal; foo=bar, wait=2;x=y", 2), ("handling=lenient", None)])
def test_prefer_wait_is_read_as_rfc_7240_says_and_bounded(header, expected):
    from web.prefer_wait import requested_wait

    assert requested_wait(header, 30) == expected


def _post_in_thread(client, url, body, headers):
    import threading

    answer = {}

    def post():
        started = time.monotonic()
        answer["response"] = client.post(url, json=body, headers=headers)
        answer["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answer


def _waiters(app):
    from web.prefer_wait import listener_for

    return listener_for(app.config["SETTINGS"].redis_url).waiting


def test_a_waiting_send_holds_no_database_connection_and_wakes_on_the_workers_signal(
        committed_client, committed_db, pro, app):
    """The worker's services (mark_sent, its commit) wake the waiting request: it answers 200 with
    the WhatsApp id, long before its 20 s are up."""
    from core.db import get_engine
    from sqlalchemy.orm import Session
    from tests.waiting import wait_until

    pool = get_engine().pool
    idle = pool.checkedout()
    thread, answer = _post_in_thread(committed_client, f"{WA}/send", {"phoneNumber": "393335550001", "message": "w"},
                                     {**pro, "Prefer": "wait=20"})
    wait_until(lambda: _waiters(app) >= 1, 10, "the request to wait")
    assert pool.checkedout() == idle  # waiting, it holds no connection of the pool
    with Session(get_engine()) as worker_db:  # as worker/delivery.py records a send
        row = worker_db.query(Message).filter_by(phone_number="393335550001").one()
        assert row.status == "QUEUED"
        row.status = "SENDING"
        messages_service.mark_sent(worker_db, row, "true_393335550001@c.us_3EB0AAAA")
        row_id = str(row.id)
        worker_db.commit()
    thread.join(20)
    response = answer["response"]
    assert response.status_code == 200 and answer["seconds"] < 10, answer
    assert response.headers["Preference-Applied"] == "wait=20" and "Prefer" in response.headers["Vary"]
    data = response.json["data"]
    assert data["status"] == "SENT" and data["waMessageId"] == "true_393335550001@c.us_3EB0AAAA"
    assert data["messageId"] == row_id and data["sentAt"]
    assert response.json["message"] == "Messaggio inviato con successo"
    assert _waiters(app) == 0


def test_a_send_still_queued_after_the_wait_answers_202_and_a_failure_answers_200(
        committed_client, committed_db, pro, app):
    started = time.monotonic()
    queued = committed_client.post(f"{WA}/send", json={"phoneNumber": "393335550002", "message": "q"},
                                   headers={**pro, "Prefer": "wait=1"})
    assert queued.status_code == 202 and time.monotonic() - started >= 1
    assert queued.headers["Preference-Applied"] == "wait=1" and queued.json["data"]["status"] == "QUEUED"
    plain = committed_client.post(f"{WA}/send", json={"phoneNumber": "393335550002", "message": "p"}, headers=pro)
    assert plain.status_code == 202 and "Preference-Applied" not in plain.headers

    from core.db import get_engine
    from sqlalchemy.orm import Session
    from tests.waiting import wait_until

    thread, answer = _post_in_thread(committed_client, f"{WA}/send", {"phoneNumber": "393335550003", "message": "f"},
                                     {**pro, "Prefer": "wait=20", "Accept-Language": "en"})
    wait_until(lambda: _waiters(app) >= 1, 10, "the request to wait")
    with Session(get_engine()) as worker_db:
        row = worker_db.query(Message).filter_by(phone_number="393335550003").one()
        messages_service.mark_failed(worker_db, row, "NOT_WHATSAPP", "393335550003 is not on WhatsApp")
        worker_db.commit()
    thread.join(20)
    failed = answer["response"]
    assert failed.status_code == 200 and failed.json["data"]["status"] == "FAILED"
    assert failed.json["data"]["errorType"] == "NOT_WHATSAPP"
    assert failed.json["message"] == "the message could not be sent: The number is not on WhatsApp."


def test_past_the_waiting_limit_the_preference_is_not_applied(committed_client, committed_db, pro, app, monkeypatch):
    from web import prefer_wait

    monkeypatch.setattr(prefer_wait, "server_threads", 4)  # gunicorn --threads 4: no thread to spare
    started = time.monotonic()
    answer = committed_client.post(f"{WA}/send", json={"phoneNumber": "393335550004", "message": "x"},
                                   headers={**pro, "Prefer": "wait=20"})
    assert answer.status_code == 202 and "Preference-Applied" not in answer.headers
    assert time.monotonic() - started < 5
