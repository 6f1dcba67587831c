from models.enums import Role
from tests.fixtures.web import PASSWORD


def test_super_admin_creates_lists_and_changes_users(client, auth_headers):
    root = auth_headers(Role.SUPER_ADMIN)
    created = client.post("/api/users", json={"email": "New@Example.com", "password": "long password 1",
                                              "role": "PROFESSIONAL"}, headers=root)
    assert created.status_code == 201 and created.json["data"]["email"] == "new@example.com"
    user_id = created.json["data"]["id"]
    assert "password" not in created.json["data"]

    login = client.post("/api/auth/login", json={"email": "new@example.com", "password": "long password 1"})
    token = {"Authorization": f"Bearer {login.json['data']['accessToken']}"}
    assert client.get("/api/auth/me", headers=token).json["data"]["role"] == "PROFESSIONAL"

    promoted = client.patch(f"/api/users/{user_id}", json={"role": "ADMIN"}, headers=root)
    assert promoted.json["data"]["role"] == "ADMIN"
    assert client.get("/api/auth/me", headers=token).json["data"]["role"] == "ADMIN"  # at once

    client.patch(f"/api/users/{user_id}", json={"active": False}, headers=root)
    assert client.get("/api/auth/me", headers=token).status_code == 401

    listed = client.get("/api/users?role=ADMIN&active=false", headers=root).json["data"]
    assert [u["id"] for u in listed] == [user_id]


def test_user_input_errors(client, auth_headers, make_user):
    root = auth_headers(Role.SUPER_ADMIN)
    existing = make_user(Role.CLIENT).email
    duplicate = client.post("/api/users", json={"email": existing, "password": PASSWORD, "role": "CLIENT"},
                            headers=root)
    assert duplicate.status_code == 409
    short = client.post("/api/users", json={"email": "a@b.it", "password": "short", "role": "CLIENT"}, headers=root)
    assert short.status_code == 422
    assert client.patch("/api/users/00000000-0000-0000-0000-000000000000", json={"active": True},
                        headers=root).status_code == 404


def test_a_super_admin_cannot_lock_themselves_out(client, make_user, auth_headers):
    me = make_user(Role.SUPER_ADMIN)
    headers = auth_headers(Role.SUPER_ADMIN, user=me)
    answer = client.patch(f"/api/users/{me.id}", json={"active": False}, headers=headers)
    assert answer.status_code == 409
