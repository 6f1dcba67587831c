"""Templates: CRUD, placeholders and variables, clone names, and sends through the pipeline."""
import pytest

from models import AuditLog, BulkJob, Message, Template
from services import templates as templates_service

URL = "/api/whatsapp/templates"




def create(client, headers, **fields):
    body = {"name": "Benvenuto", "category": "greeting", "content": "Ciao {{ nome }}, il tuo codice è {{codice}}.",
            "variables": [{"key": "nome", "description": "first name", "required": True},
                          {"key": "codice", "required": True, "default": "0000"}], "tags": ["onboarding"]}
    body.update(fields)
    return client.post(URL, json=body, headers=headers)


def test_create_declares_placeholders_and_records_the_author(client, admin, db_session):
    response = create(client, admin, content="Ciao {{ nome }} {{cognome}}, codice {{codice}}")
    assert response.status_code == 201
    data = response.json["data"]
    keys = {v["key"]: v for v in data["variables"]}
    assert set(keys) == {"nome", "codice", "cognome"} and keys["cognome"]["required"] is True
    assert data["usageCount"] == 0 and data["isActive"] is True and data["createdBy"].startswith("user:")
    assert data["createdBy"] == data["updatedBy"]
    assert db_session.query(AuditLog).filter_by(action="template.create").one().outcome == "success"


def test_names_are_unique_and_clones_pick_a_free_name(client, admin):
    template_id = create(client, admin).json["data"]["id"]
    duplicate = create(client, admin, name="benvenuto")
    assert duplicate.status_code == 409 and duplicate.json["error"]["type"] == "CONFLICT"
    names = [client.post(f"{URL}/{template_id}/clone", headers=admin).json["data"]["name"] for _ in range(3)]
    assert names == ["Benvenuto (copy)", "Benvenuto (copy 2)", "Benvenuto (copy 3)"]


def test_bad_templates_are_422(client, admin):
    for body in ({"category": "spam"}, {"name": ""}, {"content": ""}, {"variables": [{"key": "not valid!"}]},
                 {"variables": [{"key": "a"}, {"key": "a"}]}, {"tags": ["x" * 51]}):
        response = create(client, admin, **body)
        assert response.status_code == 422, body
        assert response.json["success"] is False


def test_preview_renders_with_defaults_reports_ignored_and_never_evaluates(client, admin, pro):
    template_id = create(client, admin).json["data"]["id"]
    preview = client.post(f"{URL}/{template_id}/preview",
                          json={"variables": {"nome": "{{codice}} ${7*7} {__import__('os')}", "extra": 1}},
                          headers=pro)
    assert preview.status_code == 200
    data = preview.json["data"]
    assert data["message"] == "Ciao {{codice}} ${7*7} {__import__('os')}, il tuo codice è 0000."
    assert data["ignoredVariables"] == ["extra"]


def test_missing_variables_are_named(client, admin, pro):
    template_id = create(client, admin, content="{{a}} {{ b }} {{c}}", variables=[]).json["data"]["id"]
    response = client.post(f"{URL}/{template_id}/send", json={"phoneNumber": "3331234567", "variables": {"b": 2}},
                           headers=pro)
    assert response.status_code == 422
    assert response.json["error"]["details"]["missing"] == ["a", "c"]
    preview = client.post(f"{URL}/{template_id}/preview", json={"variables": {}}, headers=pro)
    assert preview.status_code == 422 and preview.json["error"]["details"]["missing"] == ["a", "b", "c"]


def test_send_queues_through_the_pipeline_and_counts_usage(client, admin, pro, db_session):
    template_id = create(client, admin).json["data"]["id"]
    response = client.post(f"{URL}/{template_id}/send",
                           json={"phoneNumber": "+39 333 123 4567", "variables": {"nome": "Mario", "x": "y"}},
                           headers=pro)
    assert response.status_code == 202
    data = response.json["data"]
    assert data["message"] == "Ciao Mario, il tuo codice è 0000." and data["ignoredVariables"] == ["x"]
    message = db_session.get(Message, data["messageId"])
    assert str(message.template_id) == template_id and message.status == "QUEUED"
    assert message.body == data["message"] and message.phone_number == "393331234567"
    db_session.expire_all()
    assert db_session.get(Template, template_id).usage_count == 1


def test_inactive_templates_cannot_be_sent(client, admin, pro):
    template_id = create(client, admin, isActive=False).json["data"]["id"]
    response = client.post(f"{URL}/{template_id}/send", json={"phoneNumber": "3331234567",
                                                             "variables": {"nome": "x"}}, headers=pro)
    assert response.status_code == 409
    bulk = client.post(f"{URL}/{template_id}/send-bulk", json={"recipients": [{"phoneNumber": "3331234567"}]},
                       headers=admin)
    assert bulk.status_code == 409


def test_bulk_queues_the_others_and_lists_per_recipient_errors(client, admin, db_session):
    template_id = create(client, admin, content="Ciao {{nome}} da {{azienda}}", variables=[]).json["data"]["id"]
    recipients = [{"phoneNumber": "3331111111", "variables": {"nome": "Anna"}},
                  {"phoneNumber": "3332222222"},
                  {"phoneNumber": "3333333333", "variables": {"nome": "Luca", "azienda": "Beta", "zzz": 1}},
                  {"phoneNumber": "nope", "variables": {"nome": "X"}}]
    response = client.post(f"{URL}/{template_id}/send-bulk", json={"recipients": recipients,
                                                                  "variables": {"azienda": "Acme"}}, headers=admin)
    assert response.status_code == 202
    data = response.json["data"]
    assert data["queued"] == ["393331111111", "393333333333"]
    assert data["errors"] == [{"phoneNumber": "393332222222", "missing": ["nome"]}]
    assert [i["number"] for i in data["invalid"]] == ["nope"] and data["ignoredVariables"] == ["zzz"]
    bodies = sorted(m.body for m in db_session.query(Message).filter_by(bulk_job_id=data["jobId"]))
    assert bodies == ["Ciao Anna da Acme", "Ciao Luca da Beta"]
    assert db_session.get(BulkJob, data["jobId"]).kind == "template"
    db_session.expire_all()
    assert db_session.get(Template, template_id).usage_count == 2

    nobody = client.post(f"{URL}/{template_id}/send-bulk", json={"recipients": [{"phoneNumber": "3334444444"}]},
                         headers=admin)
    assert nobody.status_code == 422 and nobody.json["error"]["details"]["missing"] == ["azienda", "nome"]


def test_list_filters_and_paginates(client, admin, pro):
    ids = [create(client, admin, name=f"T{n}", category=category, tags=[tag], isActive=active,
                  content=f"testo {n} {{{{x}}}}").json["data"]["id"]
           for n, (category, tag, active) in enumerate([("greeting", "a", True), ("marketing", "b", True),
                                                        ("marketing", "a", False)])]
    listed = lambda query: [t["id"] for t in client.get(f"{URL}?{query}", headers=pro).json["data"]]  # noqa: E731
    assert listed("category=marketing") == [ids[2], ids[1]]
    assert listed("tag=a") == [ids[2], ids[0]]
    assert listed("active=false") == [ids[2]]
    assert listed("q=testo 1") == [ids[1]]
    first = client.get(f"{URL}?limit=2", headers=pro).json
    second = client.get(f"{URL}?limit=2&cursor={first['nextCursor']}", headers=pro).json
    assert [t["id"] for t in first["data"] + second["data"]] == [ids[2], ids[1], ids[0]]
    assert client.get(f"{URL}?category=spam", headers=pro).status_code == 422


def test_update_and_delete(client, admin, db_session):
    template_id = create(client, admin).json["data"]["id"]
    updated = client.put(f"{URL}/{template_id}", json={"content": "Salve {{titolo}}", "isActive": False},
                         headers=admin)
    assert updated.status_code == 200
    keys = [v["key"] for v in updated.json["data"]["variables"]]
    assert keys == ["nome", "codice", "titolo"]  # declared on purpose are kept, the new one added
    assert client.put(f"{URL}/{template_id}", json={}, headers=admin).status_code == 422
    other = create(client, admin, name="Altro").json["data"]["id"]
    assert client.put(f"{URL}/{other}", json={"name": "Benvenuto"}, headers=admin).status_code == 409
    assert client.delete(f"{URL}/{template_id}", headers=admin).status_code == 200
    assert client.delete(f"{URL}/{template_id}", headers=admin).status_code == 404


def test_render_for_is_the_service_for_scheduled_messages(client, admin, db_session):
    from core.errors import GatewayError

    template_id = create(client, admin).json["data"]["id"]
    text, template = templates_service.render_for(db_session, template_id, {"nome": "Eva"})
    assert text == "Ciao Eva, il tuo codice è 0000." and str(template.id) == template_id
    with pytest.raises(GatewayError) as missing:
        templates_service.render_for(db_session, template_id, {})
    assert missing.value.status == 422 and missing.value.details["missing"] == ["nome"]
    with pytest.raises(GatewayError) as unknown:
        templates_service.render_for(db_session, "00000000-0000-0000-0000-000000000000", {})
    assert unknown.value.status == 404


def test_a_template_carries_a_stored_file_its_text_the_caption(client, admin, pro, db_session):
    import base64

    from tests import media_samples

    template_id = create(client, admin).json["data"]["id"]
    media_id = client.post("/api/whatsapp/media", json={"base64": base64.b64encode(media_samples.png()).decode()},
                           headers=pro).json["data"]["mediaId"]
    one = client.post(f"{URL}/{template_id}/send", headers=pro, json={
        "phoneNumber": "3331234567", "variables": {"nome": "Mario"}, "mediaId": media_id}).json["data"]
    message = db_session.get(Message, one["messageId"])
    assert (str(message.media_id), message.caption, message.body, message.media_type) == (
        media_id, "Ciao Mario, il tuo codice è 0000.", None, "image")
    many = client.post(f"{URL}/{template_id}/send-bulk", headers=admin, json={
        "recipients": [{"phoneNumber": "3331234567", "variables": {"nome": "A"}},
                       {"phoneNumber": "3331234568", "variables": {"nome": "B"}}], "mediaId": media_id}).json["data"]
    rows = db_session.query(Message).filter_by(bulk_job_id=many["jobId"]).all()
    assert {str(r.media_id) for r in rows} == {media_id} and {r.caption[:7] for r in rows} == {"Ciao A,", "Ciao B,"}
    assert client.post(f"{URL}/{template_id}/send", headers=pro, json={
        "phoneNumber": "3331234567", "variables": {"nome": "M"},
        "mediaId": "00000000-0000-0000-0000-000000000000"}).status_code == 422
