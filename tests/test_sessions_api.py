"""WhatsApp sessions as a resource (/api/sessions), the `?session=` parameter of the other routes,
and the sessions a user or an API token may use. Real PostgreSQL and Redis."""
from __future__ import annotations

import json

import pytest

from core.redis import Keys, get_redis
from core.settings import SESSION_NAME_PATTERN
from models import AuditLog, Message
from models.enums import Role
from services.dispatch import interactive_queue
from web.session_scope import SESSION_DOC


@pytest.fixture
def names(app):
    """The default session and two more names, unique to this test run (Redis is shared)."""
    default = app.config["SETTINGS"].session_name
    extra = [f"{default}-mk", f"{default}-sup"]
    redis = get_redis()
    for name in extra:
        redis.delete(Keys.session_control(name), interactive_queue(name))
    yield default, *extra
    for name in extra:
        redis.delete(Keys.session_control(name), interactive_queue(name))


def _create(client, headers, name: str, **fields):
    answer = client.post("/api/sessions", json={"name": name, **fields}, headers=headers)
    assert answer.status_code == 201, answer.json
    return answer.json["data"]


def _send(client, headers, text: str, session: str | None = None):
    query = f"?session={session}" if session else ""
    return client.post(f"/api/whatsapp/send{query}", json={"phoneNumber": "3331234567", "message": text},
                       headers=headers)


def test_the_default_session_is_there_at_first_use_and_cannot_be_deleted(client, admin, names, app):
    default = names[0]
    listed = client.get("/api/sessions", headers=admin)
    assert listed.status_code == 200
    [row] = [s for s in listed.json["data"] if s["name"] == default]
    settings = app.config["SETTINGS"]
    assert row["isDefault"] is True and row["active"] is True
    assert row["queues"] == [f"wa.{default}", f"wa.{default}.bulk"]
    assert row["effectivePacing"] == {
        "minIntervalMs": settings.send_min_interval_ms, "jitterMs": settings.send_jitter_ms,
        "maxPerSecond": settings.send_max_per_second, "maxPerHour": settings.send_max_per_hour,
        "maxPerDay": settings.send_max_per_day}
    refused = client.delete(f"/api/sessions/{default}?confirm={default}", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["type"] == "CONFLICT"


def test_create_read_change_and_list(client, admin, names, app, db_session):
    _default, marketing, _ = names
    created = _create(client, admin, marketing, description="promotions", sendMaxPerHour=100,
                      sendMinIntervalMs=2500)
    assert created["isDefault"] is False and created["createdBy"].startswith("user:")
    assert (created["sendMaxPerHour"], created["sendMaxPerDay"]) == (100, None)
    pacing = created["effectivePacing"]
    assert (pacing["maxPerHour"], pacing["minIntervalMs"]) == (100, 2500)
    assert pacing["maxPerDay"] == app.config["SETTINGS"].send_max_per_day  # not overridden: the default

    again = client.post("/api/sessions", json={"name": marketing}, headers=admin)
    assert again.status_code == 409 and again.json["error"]["type"] == "CONFLICT"

    changed = client.patch(f"/api/sessions/{marketing}", json={"sendMaxPerHour": None, "active": False},
                           headers=admin)
    assert changed.status_code == 200
    assert changed.json["data"]["effectivePacing"]["maxPerHour"] == app.config["SETTINGS"].send_max_per_hour
    assert client.get(f"/api/sessions/{marketing}", headers=admin).json["data"]["active"] is False
    inactive = client.get("/api/sessions?active=false", headers=admin).json["data"]
    assert [s["name"] for s in inactive] == [marketing]

    actions = [row.action for row in db_session.query(AuditLog).filter_by(target=f"session:{marketing}")]
    assert actions == ["sessions.create", "sessions.update"]


@pytest.mark.parametrize("body", [
    {"name": "Has Spaces"}, {"name": "x" * 33}, {"name": ""}, {"name": "wa.dots"}, {"name": "trailing\n"},
    {"name": "ok", "extra": 1},
    {"name": "ok", "sendMaxPerSecond": 0}, {"name": "ok", "sendMinIntervalMs": -1},
    {"name": "ok", "sendMaxPerDay": 10**12}, {"name": "ok", "sendJitterMs": "lots"},
])
def test_bad_sessions_are_422(client, admin, body):
    answer = client.post("/api/sessions", json=body, headers=admin)
    assert answer.status_code == 422 and answer.json["error"]["type"] == "VALIDATION_ERROR"


def test_unknown_and_malformed_names_are_404(client, admin, names):
    for path in ("/api/sessions/nobody-here", "/api/sessions/Not-A-Name", "/api/sessions/a%00b"):
        answer = client.get(path, headers=admin)
        assert answer.status_code == 404 and answer.json["error"]["type"] == "NOT_FOUND", path
    assert client.patch(f"/api/sessions/{names[1]}", json={}, headers=admin).status_code == 422


def test_every_route_acts_on_the_session_it_is_given(client, admin, names, db_session):
    default, marketing, support = names
    _create(client, admin, marketing)
    sent = _send(client, admin, "promo", marketing)
    assert sent.status_code == 202
    row = db_session.get(Message, sent.json["data"]["messageId"])
    assert row.session == marketing
    [task] = [json.loads(raw) for raw in get_redis().lrange(interactive_queue(marketing), 0, -1)]
    assert task["headers"]["id"] == row.task_id  # on the session's own queue

    plain = _send(client, admin, "help")
    assert db_session.get(Message, plain.json["data"]["messageId"]).session == default

    listed = client.get(f"/api/whatsapp/messages?session={marketing}", headers=admin).json["data"]
    assert [m["messageId"] for m in listed] == [str(row.id)]
    conversation = client.get("/api/whatsapp/messages/393331234567", headers=admin).json["data"]
    assert [m["messageId"] for m in conversation] == [plain.json["data"]["messageId"]]

    status = client.get(f"/api/whatsapp/status?session={marketing}", headers=admin).json["data"]
    assert status["session"] == marketing and status["queueDepth"]["interactive"] == 1
    stats = client.get(f"/api/whatsapp/stats?session={marketing}", headers=admin).json["data"]
    assert stats["session"]["name"] == marketing

    unknown = client.get(f"/api/whatsapp/status?session={support}", headers=admin)
    assert unknown.status_code == 404 and unknown.json["error"]["type"] == "NOT_FOUND"
    malformed = client.get("/api/whatsapp/status?session=Bad%20Name", headers=admin)
    assert malformed.status_code == 422 and "session" in malformed.json["error"]["details"]["query"]
    client.patch(f"/api/sessions/{marketing}", json={"active": False}, headers=admin)
    off = _send(client, admin, "x", marketing)
    assert off.status_code == 409 and off.json["error"]["type"] == "CONFLICT"


def test_delete_needs_confirmation_then_queues_the_logout_and_the_name_can_come_back(client, admin, names):
    _default, marketing, _ = names
    _create(client, admin, marketing, sendMaxPerDay=10)
    for query in ("", "?confirm=", f"?confirm={marketing}x"):
        answer = client.delete(f"/api/sessions/{marketing}{query}", headers=admin)
        assert answer.status_code == 422 and answer.json["error"]["type"] == "VALIDATION_ERROR", query
    assert get_redis().llen(Keys.session_control(marketing)) == 0

    deleted = client.delete(f"/api/sessions/{marketing}?confirm={marketing}", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json["data"]["logout"] == "queued" and deleted.json["data"]["workerAlive"] is False
    [command] = [json.loads(raw) for raw in get_redis().lrange(Keys.session_control(marketing), 0, -1)]
    assert command["command"] == "logout"  # what the worker driving it obeys: unlink, wipe the profile

    assert client.get(f"/api/sessions/{marketing}", headers=admin).status_code == 404
    assert marketing not in [s["name"] for s in client.get("/api/sessions", headers=admin).json["data"]]
    gone = _send(client, admin, "x", marketing)
    assert gone.status_code == 404

    back = _create(client, admin, marketing)
    assert back["active"] is True and back["sendMaxPerDay"] is None  # a new session, not the old settings


def _token(client, headers, **fields) -> tuple[dict[str, str], dict]:
    issued = client.post("/api/auth/tokens", json={"name": "crm", "role": "PROFESSIONAL", **fields},
                         headers=headers)
    assert issued.status_code == 201, issued.json
    return {"Authorization": f"Bearer {issued.json['data']['token']}"}, issued.json["data"]


def test_a_token_limited_to_one_session_cannot_use_another(client, admin, names):
    default, marketing, _ = names
    _create(client, admin, marketing)
    crm, info = _token(client, admin, allowedSessions=[default])
    assert info["allowedSessions"] == [default]
    assert client.get("/api/auth/me", headers=crm).json["data"]["allowedSessions"] == [default]

    own = _send(client, crm, "help")
    assert own.status_code == 202
    other = _send(client, crm, "promo", marketing)
    assert other.status_code == 403 and other.json["error"]["type"] == "PERMISSION_DENIED"
    assert other.json["error"]["details"] == {"allowedSessions": [default]}
    # a name that does not exist is 403 too: a limited caller cannot probe which sessions exist
    assert client.get("/api/whatsapp/status?session=nobody-here", headers=crm).status_code == 403

    promo = _send(client, admin, "promo", marketing).json["data"]["messageId"]
    assert client.get(f"/api/whatsapp/messages/{promo}", headers=crm).status_code == 403
    own_id = own.json["data"]["messageId"]
    assert client.get(f"/api/whatsapp/messages/{own_id}", headers=crm).status_code == 200


def test_allowed_sessions_must_exist_and_cannot_exceed_the_granters_own(client, admin, auth_headers, names,
                                                                         make_user, db_session):
    default, marketing, _ = names
    _create(client, admin, marketing)
    typo = client.post("/api/auth/tokens", headers=admin,
                       json={"name": "crm", "role": "CLIENT", "allowedSessions": ["nobody-here"]})
    assert typo.status_code == 422 and typo.json["error"]["details"] == {"allowedSessions": ["nobody-here"]}
    assert client.post("/api/auth/tokens", json={"name": "crm", "role": "CLIENT", "allowedSessions": []},
                       headers=admin).status_code == 422

    limited_admin = make_user(Role.ADMIN)
    limited_admin.allowed_sessions = [marketing]
    db_session.commit()
    limited = auth_headers(Role.ADMIN, user=limited_admin)
    beyond = client.post("/api/auth/tokens", headers=limited,
                         json={"name": "crm", "role": "CLIENT", "allowedSessions": [default]})
    assert beyond.status_code == 403
    _headers, inherited = _token(client, limited)  # omitted: no more than the granter's own
    assert inherited["allowedSessions"] == [marketing]

    assert [s["name"] for s in client.get("/api/sessions", headers=limited).json["data"]] == [marketing]
    assert client.get(f"/api/sessions/{default}", headers=limited).status_code == 403
    assert client.post("/api/sessions", json={"name": f"{default}-sup"}, headers=limited).status_code == 403


def test_limiting_a_user_acts_on_their_next_request(client, auth_headers, make_user, names):
    default, marketing, _ = names
    root = auth_headers(Role.SUPER_ADMIN)
    _create(client, root, marketing)
    user = make_user(Role.PROFESSIONAL)
    headers = auth_headers(Role.PROFESSIONAL, user=user)
    assert client.get(f"/api/whatsapp/status?session={marketing}", headers=headers).status_code == 200

    changed = client.patch(f"/api/users/{user.id}", json={"allowedSessions": [default]}, headers=root)
    assert changed.status_code == 200 and changed.json["data"]["allowedSessions"] == [default]
    assert client.get(f"/api/whatsapp/status?session={marketing}", headers=headers).status_code == 403
    assert client.get("/api/whatsapp/status", headers=headers).status_code == 200

    client.patch(f"/api/users/{user.id}", json={"allowedSessions": None}, headers=root)
    assert client.get(f"/api/whatsapp/status?session={marketing}", headers=headers).status_code == 200


def test_only_admins_manage_sessions(client, pro, names):
    assert client.get("/api/sessions", headers=pro).status_code == 403
    assert client.post("/api/sessions", json={"name": names[1]}, headers=pro).status_code == 403


def test_the_session_parameter_is_one_documented_definition(client):
    spec = client.get("/api/openapi.json").json
    # the event stream's `session` is a filter (omitted: every session), not the session to act on
    documented = [param for name, path in spec["paths"].items() if name != "/api/events"
                  for operation in path.values()
                  if isinstance(operation, dict) for param in operation.get("parameters", [])
                  if param["name"] == "session"]
    assert len(documented) >= 15
    assert all(param["in"] == "query" and not param["required"] for param in documented)
    assert {(param["schema"]["pattern"], param["description"]) for param in documented} == {
        (SESSION_NAME_PATTERN, SESSION_DOC)}


def test_a_tokens_sessions_can_be_changed_after_issue(client, admin, names, db_session):
    default, marketing, _ = names
    _create(client, admin, marketing)
    crm, info = _token(client, admin, allowedSessions=[default])
    assert client.get(f"/api/whatsapp/status?session={marketing}", headers=crm).status_code == 403

    widened = client.patch(f"/api/auth/tokens/{info['id']}", json={"allowedSessions": [default, marketing]},
                           headers=admin)
    assert widened.status_code == 200 and widened.json["data"]["allowedSessions"] == [default, marketing]
    assert client.get(f"/api/whatsapp/status?session={marketing}", headers=crm).status_code == 200  # at once
    assert client.get("/api/auth/me", headers=crm).json["data"]["allowedSessions"] == [default, marketing]

    narrowed = client.patch(f"/api/auth/tokens/{info['id']}", json={"allowedSessions": [marketing]}, headers=admin)
    assert narrowed.status_code == 200
    assert client.get(f"/api/whatsapp/status?session={default}", headers=crm).status_code == 403
    unlimited = client.patch(f"/api/auth/tokens/{info['id']}", json={"allowedSessions": None}, headers=admin)
    assert unlimited.json["data"]["allowedSessions"] is None
    assert client.get(f"/api/whatsapp/status?session={default}", headers=crm).status_code == 200

    audit = db_session.query(AuditLog).filter_by(action="auth.update_token").order_by(AuditLog.id).all()
    assert [(row.target, row.outcome) for row in audit] == [(f"token:{info['id']}", "success")] * 3
    assert [row.details["allowedSessions"] for row in audit] == [[default, marketing], [marketing], None]


def test_changing_a_tokens_sessions_follows_the_rules_of_issue(client, admin, auth_headers, names, make_user,
                                                               db_session):
    default, marketing, _ = names
    _create(client, admin, marketing)
    _crm, info = _token(client, admin, allowedSessions=[default])
    url = f"/api/auth/tokens/{info['id']}"
    for body in ({"allowedSessions": ["nobody-here"]}, {"allowedSessions": []}, {}, {"allowedSessions": "x"}):
        assert client.patch(url, json=body, headers=admin).status_code == 422, body
    assert client.patch("/api/auth/tokens/00000000-0000-0000-0000-000000000001", headers=admin,
                        json={"allowedSessions": None}).status_code == 404

    limited_admin = make_user(Role.ADMIN)
    limited_admin.allowed_sessions = [marketing]
    db_session.commit()
    limited = auth_headers(Role.ADMIN, user=limited_admin)
    _mine, own = _token(client, limited)  # confined to marketing, like its issuer
    beyond = client.patch(f"/api/auth/tokens/{own['id']}", json={"allowedSessions": [default]}, headers=limited)
    assert beyond.status_code == 403 and beyond.json["error"]["type"] == "PERMISSION_DENIED"
    # null from a limited caller means as many as its own, as at issue
    same = client.patch(f"/api/auth/tokens/{own['id']}", json={"allowedSessions": None}, headers=limited)
    assert same.status_code == 200 and same.json["data"]["allowedSessions"] == [marketing]
    # another team's token (limited elsewhere, or unlimited) is out of its reach
    assert client.patch(url, json={"allowedSessions": [marketing]}, headers=limited).status_code == 403
    _unlimited, wide = _token(client, admin)
    taken = client.patch(f"/api/auth/tokens/{wide['id']}", json={"allowedSessions": [marketing]}, headers=limited)
    assert taken.status_code == 403
    assert client.get("/api/auth/tokens", headers=admin).json["data"][0]["allowedSessions"] is None

    assert client.delete(url, headers=admin).status_code == 200
    revoked = client.patch(url, json={"allowedSessions": None}, headers=admin)
    assert revoked.status_code == 409 and revoked.json["error"]["type"] == "CONFLICT"
    pro = auth_headers(Role.PROFESSIONAL)
    assert client.patch(url, json={"allowedSessions": None}, headers=pro).status_code == 403


def test_a_limited_admin_revokes_only_tokens_confined_to_its_own_sessions(client, admin, auth_headers, names,
                                                                           make_user, db_session):
    default, marketing, _ = names
    _create(client, admin, marketing)
    limited_admin = make_user(Role.ADMIN)
    limited_admin.allowed_sessions = [marketing]
    db_session.commit()
    limited = auth_headers(Role.ADMIN, user=limited_admin)

    for fields in ({"allowedSessions": [default]}, {"allowedSessions": [default, marketing]}, {}):
        other_team, info = _token(client, admin, **fields)
        denied = client.delete(f"/api/auth/tokens/{info['id']}", headers=limited)
        assert denied.status_code == 403 and denied.json["error"]["type"] == "PERMISSION_DENIED", fields
        assert client.get("/api/auth/me", headers=other_team).status_code == 200  # still works
    mine, own = _token(client, limited)  # confined to marketing, like its issuer
    assert client.delete(f"/api/auth/tokens/{own['id']}", headers=limited).status_code == 200
    assert client.get("/api/auth/me", headers=mine).status_code == 401
    audit = db_session.query(AuditLog).filter_by(action="auth.revoke_token").order_by(AuditLog.id).all()
    assert [row.outcome for row in audit] == ["denied"] * 3 + ["success"]


def test_a_limited_super_admin_changes_only_users_confined_to_its_own_sessions(client, auth_headers, names,
                                                                                make_user, db_session):
    default, marketing, _ = names
    _create(client, auth_headers(Role.SUPER_ADMIN), marketing)
    boss = make_user(Role.SUPER_ADMIN)
    boss.allowed_sessions = [marketing]
    team, elsewhere, everywhere = (make_user(Role.PROFESSIONAL) for _ in range(3))
    team.allowed_sessions, elsewhere.allowed_sessions = [marketing], [default, marketing]
    db_session.commit()
    limited = auth_headers(Role.SUPER_ADMIN, user=boss)
    ids = {"team": team.id, "elsewhere": elsewhere.id, "everywhere": everywhere.id}

    for name in ("elsewhere", "everywhere"):  # neither deactivated, nor narrowed, nor given a new password
        for body in ({"active": False}, {"allowedSessions": [marketing]}, {"password": "taken over, 123"}):
            denied = client.patch(f"/api/users/{ids[name]}", json=body, headers=limited)
            assert denied.status_code == 403 and denied.json["error"]["type"] == "PERMISSION_DENIED", (name, body)
    changed = client.patch(f"/api/users/{ids['team']}", json={"active": False, "role": "CLIENT"}, headers=limited)
    assert changed.status_code == 200 and changed.json["data"]["active"] is False
    mine = client.patch(f"/api/users/{boss.id}", json={"allowedSessions": [marketing]}, headers=limited)
    assert mine.status_code == 200  # itself: confined to its own sessions by definition

    db_session.expire_all()
    users = {name: db_session.get(type(team), user_id) for name, user_id in ids.items()}
    assert [(users[n].active, users[n].allowed_sessions) for n in ("elsewhere", "everywhere")] == [
        (True, [default, marketing]), (True, None)]
