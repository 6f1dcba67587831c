"""Login, refresh, /me, API tokens, and every way a bad token must be refused with 401."""
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from models import AuditLog, User
from models.enums import Role
from tests.fixtures.web import PASSWORD


def login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_login_gives_tokens_with_the_role_claim_and_me_answers(client, make_user, app):
    user = make_user(Role.ADMIN)
    response = login(client, user.email.upper())  # emails are case-insensitive
    assert response.status_code == 200
    data = response.json["data"]
    claims = pyjwt.decode(data["accessToken"], options={"verify_signature": False})
    assert claims["role"] == "ADMIN" and claims["sub"] == f"user:{user.id}"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {data['accessToken']}"})
    assert me.status_code == 200
    assert me.json["data"] == {"id": f"user:{user.id}", "kind": "user", "role": "ADMIN", "name": user.email,
                               "allowedSessions": None}

    refreshed = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {data['refreshToken']}"})
    assert refreshed.status_code == 200
    again = client.get("/api/auth/me", headers={"Authorization": f"Bearer {refreshed.json['data']['accessToken']}"})
    assert again.status_code == 200


def test_wrong_password_unknown_email_and_inactive_user_get_the_same_401(client, make_user):
    email = make_user(Role.ADMIN).email
    inactive_email = make_user(Role.ADMIN, active=False).email
    answers = [login(client, email, "wrong password!"), login(client, "nobody@example.com"),
               login(client, inactive_email)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert {a.json["error"]["message"] for a in answers} == {"wrong email or password"}
    assert answers[0].json["error"]["type"] == "AUTHENTICATION_ERROR"


def test_login_is_rate_limited_per_address(client, make_user):
    email = make_user().email
    statuses = [login(client, email, "guess number %d" % i).status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    blocked = login(client, email)
    assert blocked.status_code == 429 and blocked.json["error"]["type"] == "RATE_LIMIT"
    assert blocked.json["error"]["retry"] is True


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def forged_tokens(app, make_user, auth_headers):
    user = make_user(Role.SUPER_ADMIN)
    with app.app_context():
        good = create_access_token(f"user:{user.id}", additional_claims={"role": "SUPER_ADMIN"})
        expired = create_access_token(f"user:{user.id}", expires_delta=timedelta(seconds=-5))
    header, payload, signature = good.split(".")
    claims = pyjwt.decode(good, options={"verify_signature": False})
    return {
        "good": good,
        "expired": expired,
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "tampered payload": f"{header}.{pyjwt.encode({**claims, 'role': 'X'}, 'k' * 32).split('.')[1]}.{signature}",
        "alg none": pyjwt.encode(claims, None, algorithm="none"),
        "other secret": pyjwt.encode(claims, "another-secret-entirely-and-long-enough", algorithm="HS256"),
        "garbage": "not-a-jwt",
        "empty": "",
        "unknown subject": pyjwt.encode({**claims, "sub": "user:00000000-0000-0000-0000-000000000000"},
                                        app.config["JWT_SECRET_KEY"], algorithm="HS256"),
        "refresh used as access": auth_headers(Role.SUPER_ADMIN, refresh=True)["Authorization"][7:],
    }


@pytest.mark.parametrize("case", ["expired", "tampered signature", "tampered payload", "alg none",
                                  "other secret", "garbage", "empty", "unknown subject",
                                  "refresh used as access"])
def test_abusive_tokens_get_401_in_the_envelope(client, forged_tokens, case):
    response = client.get("/api/auth/me", headers=_bearer(forged_tokens[case]))
    assert response.status_code == 401, response.json
    assert response.json["success"] is False
    assert response.json["error"]["type"] == "AUTHENTICATION_ERROR"


def test_forgeries_are_refused_even_after_the_real_token_was_verified(client, forged_tokens, app):
    """Verified tokens are remembered by their exact string: no variation of one inherits it."""
    good = forged_tokens["good"]
    assert client.get("/api/auth/me", headers=_bearer(good)).status_code == 200
    for case in ("tampered signature", "tampered payload", "alg none", "other secret"):
        assert client.get("/api/auth/me", headers=_bearer(forged_tokens[case])).status_code == 401, case


def test_a_verified_token_is_refused_once_it_expires(client, make_user, app):
    import time

    user = make_user(Role.ADMIN)
    with app.app_context():
        token = create_access_token(f"user:{user.id}", expires_delta=timedelta(seconds=2))
    assert client.get("/api/auth/me", headers=_bearer(token)).status_code == 200
    time.sleep(2.5)
    expired = client.get("/api/auth/me", headers=_bearer(token))
    assert expired.status_code == 401 and expired.json["error"]["message"] == "token has expired"


def test_missing_header_and_wrong_scheme_get_401(client):
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_deactivating_a_user_refuses_their_live_token_at_once(client, make_user, auth_headers, db_session):
    user = make_user(Role.ADMIN)
    headers = auth_headers(Role.ADMIN, user=user)
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    db_session.get(User, user.id).active = False  # the request closed the session `user` came from
    db_session.commit()
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def _users_lookups(database, client, headers) -> int:
    """How many statements reading the users table one /me request runs."""
    from sqlalchemy import event

    seen = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM users" in statement:
            seen.append(statement)

    event.listen(database, "before_cursor_execute", count)
    try:
        assert client.get("/api/auth/me", headers=headers).status_code == 200
    finally:
        event.remove(database, "before_cursor_execute", count)
    return len(seen)


def test_the_principal_is_reused_from_redis_until_the_user_changes(client, make_user, auth_headers, db_session,
                                                                   database):
    user = make_user(Role.ADMIN)
    headers = auth_headers(Role.ADMIN, user=user)
    assert _users_lookups(database, client, headers) == 1  # the first request reads PostgreSQL
    assert _users_lookups(database, client, headers) == 0  # the next ones the cache
    db_session.get(User, user.id).role = Role.PROFESSIONAL.value
    db_session.commit()
    assert _users_lookups(database, client, headers) == 1  # the change dropped the entry
    assert client.get("/api/auth/me", headers=headers).json["data"]["role"] == "PROFESSIONAL"


def test_a_cache_entry_written_from_a_row_read_before_a_change_is_not_trusted(make_user, app, redis_client):
    """The race: a request reads the row, the row changes (and the generation moves), then the
    request caches what it read. The next lookup must not believe that entry."""
    from unittest import mock

    from web import auth

    user = make_user(Role.ADMIN)
    identity = f"user:{user.id}"
    stale = auth.Principal(identity, "user", Role.ADMIN, user.email, user.id)
    with app.app_context():
        read_then_changed = lambda kind, object_id: (auth.forget_principals({identity}), (stale, 60))[1]
        with mock.patch.object(auth, "_principal_from_db", side_effect=read_then_changed):
            assert auth.load_principal(identity) == stale  # this request acts on what it read
        assert redis_client.get(f"auth:principal:{identity}")  # and left an entry behind
        with mock.patch.object(auth, "_principal_from_db", return_value=(None, 0)) as fresh:
            assert auth.load_principal(identity) is None  # the entry's generation is old: PostgreSQL decides
            fresh.assert_called_once()


def test_api_tokens_are_issued_listed_and_revoked_by_an_admin(client, auth_headers, db_session):
    admin = auth_headers(Role.ADMIN)
    issued = client.post("/api/auth/tokens", json={"name": "crm", "role": "PROFESSIONAL", "days": 30},
                         headers=admin)
    assert issued.status_code == 201
    token = issued.json["data"]["token"]
    me = client.get("/api/auth/me", headers=_bearer(token))
    assert me.json["data"]["kind"] == "token" and me.json["data"]["role"] == "PROFESSIONAL"

    listed = client.get("/api/auth/tokens", headers=admin).json["data"]
    assert [t["name"] for t in listed] == ["crm"] and "token" not in listed[0]

    revoked = client.delete(f"/api/auth/tokens/{issued.json['data']['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json["data"]["revokedAt"]
    refused = client.get("/api/auth/me", headers=_bearer(token))
    assert refused.status_code == 401

    actions = [row.action for row in db_session.query(AuditLog).order_by(AuditLog.id)]
    assert actions == ["auth.issue_token", "auth.revoke_token"]


def test_an_expired_api_token_is_refused(client, auth_headers, db_session):
    from models import ApiToken

    issued = client.post("/api/auth/tokens", json={"name": "old", "role": "ADMIN", "days": 1},
                         headers=auth_headers(Role.ADMIN))
    token_row = db_session.get(ApiToken, issued.json["data"]["id"])
    token_row.expires_at = token_row.created_at - timedelta(minutes=1)
    db_session.commit()
    assert client.get("/api/auth/me", headers=_bearer(issued.json["data"]["token"])).status_code == 401
