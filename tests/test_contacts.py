"""Contacts: search, favourites, pagination, edits, and the sync task's publication."""
import json


from core.redis import get_redis
from models import AuditLog
from models.enums import Role
from services.dispatch import interactive_queue

URL = "/api/whatsapp/contacts"


def test_search_by_name_pushname_and_number(client, auth_headers, people):
    pro = auth_headers(Role.PROFESSIONAL)
    found = lambda q: sorted(c["phoneNumber"] for c in client.get(f"{URL}?q={q}", headers=pro).json["data"])  # noqa
    assert found("rossi") == ["393331111111"]
    assert found("GIUL") == ["393332222222"]
    assert found("4420") == ["442079460958"]
    assert found("100%25") == []
    favourites = client.get(f"{URL}?favorite=true", headers=pro).json["data"]
    assert [c["name"] for c in favourites] == ["Jane Doe"]


def test_pagination_and_get(client, auth_headers, people):
    pro = auth_headers(Role.PROFESSIONAL)
    first = client.get(f"{URL}?limit=2", headers=pro).json
    second = client.get(f"{URL}?limit=2&cursor={first['nextCursor']}", headers=pro).json
    assert len(first["data"]) == 2 and len(second["data"]) == 1 and second["nextCursor"] is None
    assert {c["id"] for c in first["data"] + second["data"]} == {str(i) for i in people.values()}
    one = client.get(f"{URL}/{people['393331111111']}", headers=pro).json["data"]
    assert one["name"] == "Mario Rossi" and one["isFavorite"] is False
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000", headers=pro).status_code == 404
    assert client.get(f"{URL}?cursor=garbage", headers=pro).status_code == 422


def test_patch_name_and_favourite_is_audited(client, auth_headers, people, db_session):
    admin = auth_headers(Role.ADMIN)
    contact_id = people["393332222222"]
    response = client.patch(f"{URL}/{contact_id}", json={"name": "Giulia Bianchi", "isFavorite": True}, headers=admin)
    assert response.status_code == 200
    assert response.json["data"]["name"] == "Giulia Bianchi" and response.json["data"]["isFavorite"] is True
    assert db_session.query(AuditLog).filter_by(action="contact.update").one().target == f"contact:{contact_id}"
    assert client.patch(f"{URL}/{contact_id}", json={}, headers=admin).status_code == 422
    assert client.patch(f"{URL}/{contact_id}", json={"isFavorite": "yes please"}, headers=admin).status_code == 422
    assert client.patch(f"{URL}/{contact_id}", json={"name": "x"},
                        headers=auth_headers(Role.PROFESSIONAL)).status_code == 403


def test_sync_publishes_the_task_on_the_session_queue(committed_client, auth_headers, app):
    queue = interactive_queue(app.config["SETTINGS"].session_name)
    get_redis().delete(queue)
    response = committed_client.post(f"{URL}/sync", headers=auth_headers(Role.ADMIN))
    assert response.status_code == 202
    task_id = response.json["data"]["taskId"]
    [task] = [json.loads(raw) for raw in get_redis().lrange(queue, 0, -1)]
    assert task["headers"]["task"] == "tasks.contacts.sync_contacts" and task["headers"]["id"] == task_id
    status = committed_client.get(f"{URL}/sync/{task_id}", headers=auth_headers(Role.PROFESSIONAL)).json["data"]
    assert status["status"] == "PENDING"
    get_redis().delete(queue)
