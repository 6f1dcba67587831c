"""Number validation across formats and countries, hostile input, batches, extraction from text,
and the WhatsApp-existence answer when cached or not yet answered (no worker here: see
test_whatsapp_check.py for the session's answer)."""
import json

import pytest

from core.redis import get_redis
from models import CheckJob
from services import contacts
from services.dispatch import bulk_queue, interactive_queue

URL = "/api/whatsapp/validate-number"



@pytest.mark.parametrize("number, country, e164, kind", [
    ("393 123 4567", "IT", "+393931234567", "mobile"),          # an Italian mobile that begins with 39
    ("333 123 4567", "IT", "+393331234567", "mobile"),
    ("333.123.4567", "IT", "+393331234567", "mobile"),
    ("333-123-4567", "IT", "+393331234567", "mobile"),
    ("(333) 1234567", "IT", "+393331234567", "mobile"),
    ("+39 333 123 4567", "IT", "+393331234567", "mobile"),
    ("0039 333 123 4567", "IT", "+393331234567", "mobile"),
    ("+39 (0)6 1234 5678", None, "+390612345678", "fixed_line"),
    ("06 1234 5678", "IT", "+390612345678", "fixed_line"),      # Italy keeps the leading 0
    ("٣٣٣١٢٣٤٥٦٧", "IT", "+393331234567", "mobile"),            # Arabic-Indic digits
    ("３３３ １２３ ４５６７", "IT", "+393331234567", "mobile"),   # full-width digits
    ("020 7946 0958", "GB", "+442079460958", "fixed_line"),     # trunk prefix 0 dropped
    ("07911 123456", "GB", "+447911123456", "mobile"),
    ("+44 (0) 20 7946 0958", "IT", "+442079460958", "fixed_line"),
    ("(415) 555-2671", "US", "+14155552671", "fixed_line_or_mobile"),
    ("1-415-555-2671", "US", "+14155552671", "fixed_line_or_mobile"),
    ("011 44 20 7946 0958", "US", "+442079460958", "fixed_line"),  # US international prefix
    ("06 12 34 56 78", "FR", "+33612345678", "mobile"),
    ("+33 6 12 34 56 78", "IT", "+33612345678", "mobile"),
    ("030 1234567", "DE", "+49301234567", "fixed_line"),
    ("0151 23456789", "DE", "+4915123456789", "mobile"),
    ("612 34 56 78", "ES", "+34612345678", "mobile"),
])
def test_valid_formats(client, pro, number, country, e164, kind):
    body = {"number": number, **({"country": country} if country else {})}
    response = client.post(URL, json=body, headers=pro)
    assert response.status_code == 200
    data = response.json["data"]
    assert data["isValid"] is True and data["e164"] == e164 and data["formatted"] == e164[1:]
    assert data["type"] == kind and data["error"] is None and data["displayFormat"].replace(" ", "").startswith(e164[:3])
    assert "hasWhatsApp" not in data or data["hasWhatsApp"] is None


def test_the_italian_mobile_beginning_with_39(client, pro):
    data = client.post(URL, json={"number": "393 123 4567", "country": "IT"}, headers=pro).json["data"]
    assert data["displayFormat"] == "+39 393 123 4567" and data["country"] == "IT"


@pytest.mark.parametrize("number, error", [
    ("", "empty"),
    ("   ", "empty"),
    ("9" * 500, "too long"),
    ("abcdefghij", "not a phone number"),
    ("😀😀😀", "not a phone number"),
    ("123", None),
    ("+999 123 456 789", None),
    ("333 123 4567 ext 😀" * 10, None),
    ("<script>alert(1)</script>", None),
    ("'; DROP TABLE messages; --", None),
    ("+39 000 000 0000", None),
])
def test_invalid_and_hostile_numbers_are_answered_not_crashed(client, pro, number, error):
    response = client.post(URL, json={"number": number}, headers=pro)
    assert response.status_code == 200
    data = response.json["data"]
    assert data["isValid"] is False and data["formatted"] is None and data["error"]
    if error:
        assert data["error"] == error


@pytest.mark.parametrize("body", [
    {}, {"number": 3331234567}, {"number": None}, {"number": "1", "country": "XX"}, {"number": "1", "country": "ITA"},
    {"number": "1", "waitSeconds": 31}, {"number": "1", "checkWhatsApp": "maybe"}, {"number": "x" * 2001},
    {"number": ["333"]}, {"number": "1", "unknown": True},
])
def test_bad_requests_are_422_envelopes(client, pro, body):
    response = client.post(URL, json=body, headers=pro)
    assert response.status_code == 422 and response.json["error"]["type"] == "VALIDATION_ERROR"


def test_not_json_is_415(client, pro):
    assert client.post(URL, data="number=1", headers={**pro, "Content-Type": "text/plain"}).status_code == 415


def test_a_cached_answer_comes_at_once(client, pro, db_session):
    contacts.record_existence(db_session, "393331234567", True)
    data = client.post(URL, json={"number": "3331234567", "checkWhatsApp": True}, headers=pro).json["data"]
    assert data["hasWhatsApp"] is True


def test_without_a_session_the_check_is_a_job_to_poll(committed_client, pro, committed_db, app):
    session = app.config["SETTINGS"].session_name
    get_redis().delete(interactive_queue(session))
    response = committed_client.post(URL, json={"number": "3337654321", "checkWhatsApp": True, "waitSeconds": 1},
                                     headers=pro)
    assert response.status_code == 202
    job_id = response.json["data"]["whatsAppCheck"]["jobId"]
    assert response.json["data"]["isValid"] is True and response.json["data"]["hasWhatsApp"] is None
    [task] = [json.loads(raw) for raw in get_redis().lrange(interactive_queue(session), 0, -1)]
    assert task["headers"]["task"] == "tasks.contacts.check_step" and task["headers"]["argsrepr"] == repr([job_id])
    poll = committed_client.get(f"/api/whatsapp/whatsapp-checks/{job_id}", headers=pro).json["data"]
    assert (poll["status"], poll["total"], poll["checked"], poll["results"]) == ("RUNNING", 1, 0, [])
    assert committed_db.get(CheckJob, job_id).numbers == ["393337654321"]
    get_redis().delete(interactive_queue(session))


def test_batch_formats_everything_at_once(client, pro):
    numbers = ["3331234567", "+44 20 7946 0958", "nope", "3331234567", ""]
    data = client.post("/api/whatsapp/validate-batch", json={"numbers": numbers}, headers=pro).json["data"]
    assert (data["total"], data["valid"], data["invalid"]) == (5, 3, 2)
    assert [r["formatted"] for r in data["results"]] == ["393331234567", "442079460958", None, "393331234567", None]
    assert data["whatsAppCheck"] is None
    too_many = client.post("/api/whatsapp/validate-batch", json={"numbers": ["1"] * 10_001}, headers=pro)
    assert too_many.status_code == 422


def test_batch_whatsapp_checks_answer_cached_ones_and_queue_the_rest(client, pro, db_session, app):
    session = app.config["SETTINGS"].session_name
    get_redis().delete(bulk_queue(session))
    contacts.record_existence(db_session, "393331111111", False)
    data = client.post("/api/whatsapp/validate-batch",
                       json={"numbers": ["3331111111", "3332222222", "3333333333", "x"], "checkWhatsApp": True},
                       headers=pro).json["data"]
    assert [r.get("hasWhatsApp") for r in data["results"]] == [False, None, None, None]
    job = db_session.get(CheckJob, data["whatsAppCheck"]["jobId"])
    assert job.numbers == ["393332222222", "393333333333"] and data["whatsAppCheck"]["pending"] == 2
    get_redis().delete(bulk_queue(session))


MIXED = ("Buongiorno, per info chiamate il 333 123 4567 oppure l'ufficio di Roma allo 06 1234 5678. "
         "Our London office: +44 20 7946 0958 (ask for Jane). Di nuovo: +39 333 1234567! "
         "Fattura n. 2024/123456 del 12/03/2024, CAP 00184, importo 1.234,56 €.")


def test_extract_numbers_from_mixed_italian_and_english_text(client, pro):
    data = client.post("/api/whatsapp/extract-numbers", json={"text": MIXED, "country": "IT"}, headers=pro).json["data"]
    found = {n["e164"]: n for n in data["numbers"]}
    assert list(found) == ["+393331234567", "+390612345678", "+442079460958"] and data["count"] == 3
    for number in data["numbers"]:
        assert MIXED[number["start"]:number["end"]] == number["raw"]
    assert found["+393331234567"]["raw"] == "333 123 4567"  # the first occurrence, de-duplicated
    assert found["+442079460958"]["country"] == "GB"


def test_extract_takes_a_mebibyte_and_refuses_more(client, pro):
    text = ("lorem ipsum " * 90_000)[:1024 * 1024 - 20] + " 333 123 4567"
    ok = client.post("/api/whatsapp/extract-numbers", json={"text": text}, headers=pro)
    assert ok.status_code == 200 and ok.json["data"]["count"] == 1
    too_big = client.post("/api/whatsapp/extract-numbers", json={"text": "é" * (1024 * 1024)}, headers=pro)
    assert too_big.status_code == 422
    assert client.post("/api/whatsapp/extract-numbers", json={"text": 12}, headers=pro).status_code == 422
