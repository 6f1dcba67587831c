"""Bad input always gets a 4xx JSON envelope, never a 500; a 500 never leaks a stack trace."""

from models.enums import Role


def assert_envelope(response, status, error_type="VALIDATION_ERROR"):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.is_json
    body = response.json
    assert body["success"] is False
    assert set(body["error"]) == {"type", "message", "userMessage", "retry", "suggestions", "details"}
    assert body["error"]["type"] == error_type
    return body["error"]



def test_empty_body_names_the_missing_fields(client, admin):
    error = assert_envelope(client.post("/api/auth/tokens", json={}, headers=admin), 422)
    assert set(error["details"]["json"]) == {"name", "role"}


def test_no_body_at_all_is_a_422_not_a_crash(client, admin):
    assert_envelope(client.post("/api/auth/tokens", headers=admin), 422)


def test_wrong_types_and_unknown_fields(client, admin):
    error = assert_envelope(client.post(
        "/api/auth/tokens", json={"name": ["x"], "role": 7, "days": "many", "colour": "red"}, headers=admin), 422)
    assert set(error["details"]["json"]) == {"name", "role", "days", "colour"}


def test_values_out_of_range(client, admin):
    error = assert_envelope(client.post(
        "/api/auth/tokens", json={"name": "x" * 1000, "role": "GOD", "days": 10**12}, headers=admin), 422)
    assert set(error["details"]["json"]) == {"name", "role", "days"}


def test_broken_json_is_400(client, admin):
    response = client.post("/api/auth/tokens", data='{"name": "crm",', content_type="application/json",
                           headers=admin)
    assert assert_envelope(response, 400)["message"] == "the body is not valid JSON"


def test_json_that_is_not_an_object(client, admin):
    assert_envelope(client.post("/api/auth/tokens", json=["a", "list"], headers=admin), 422)


def test_wrong_content_type_is_415(client, admin):
    response = client.post("/api/auth/tokens", data="name=crm&role=ADMIN",
                           content_type="application/x-www-form-urlencoded", headers=admin)
    assert_envelope(response, 415)


def test_ten_mib_body_is_413(client, admin):
    body = '{"name": "' + "x" * (10 * 1024 * 1024) + '"}'
    assert_envelope(client.post("/api/auth/tokens", data=body, content_type="application/json",
                                headers=admin), 413)


def test_unknown_route_and_wrong_method(client, admin):
    assert_envelope(client.get("/api/nothing-here", headers=admin), 404, "NOT_FOUND")
    assert_envelope(client.put("/api/auth/me", json={}, headers=admin), 405)


def test_bad_query_parameters(client, auth_headers):
    headers = auth_headers(Role.SUPER_ADMIN)
    assert_envelope(client.get("/api/audit?limit=0", headers=headers), 422)
    assert_envelope(client.get("/api/audit?limit=abc", headers=headers), 422)
    assert_envelope(client.get("/api/audit?cursor=%%%", headers=headers), 422)
    assert_envelope(client.get("/api/audit?from=yesterday", headers=headers), 422)


def test_english_text_when_accept_language_asks(client, admin):
    headers = {**admin, "Accept-Language": "en-GB,en;q=0.9"}
    error = assert_envelope(client.post("/api/auth/tokens", json={}, headers=headers), 422)
    assert error["userMessage"] == "The data sent is not valid."
    italian = assert_envelope(client.post("/api/auth/tokens", json={}, headers=admin), 422)
    assert italian["userMessage"] == "I dati inviati non sono validi."


def test_an_unexpected_failure_is_a_500_envelope_without_a_stack_trace(client, admin, monkeypatch):
    from services import accounts

    def explode(_session):
        raise RuntimeError("secret internals at /srv/app.py line 3")

    monkeypatch.setattr(accounts, "list_tokens", explode)
    response = client.get("/api/auth/tokens", headers=admin)
    error = assert_envelope(response, 500, "UNKNOWN")
    assert error["message"] == "internal error"
    assert "Traceback" not in response.get_data(as_text=True) and "secret" not in response.get_data(as_text=True)
