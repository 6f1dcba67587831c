"""The panel's admin pages through Flask's test client: users (create, role, deactivate), API
tokens (issued once, revoked), the audit log with its filters and pages, the error-counter reset;
who may reach them is THE role table's answer (users, audit, counters: SUPER_ADMIN; tokens: who
may MANAGE, as /api/auth/tokens). tests/test_admin_accounts_browser.py drives them in Chromium."""
import re

import pytest

from models import ApiToken, AuditLog, ErrorCounter, User
from models.enums import Role
from tests.fixtures.web import PASSWORD
from tests.test_admin_panel import csrf_of, log_in

SUPER_ONLY = ("/admin/users", "/admin/audit", "/admin/errors")


@pytest.fixture
def super_admin(client, make_user):
    user = make_user(Role.SUPER_ADMIN)
    assert log_in(client, user).status_code == 302
    return user


def test_a_super_admin_creates_a_user_who_logs_in_with_that_role(client, super_admin, app):
    token = csrf_of(client, "/admin/users")
    created = client.post("/admin/users", data={"email": "New.Person@Example.com", "password": "a long password",
                                                "role": "ADMIN", "csrf_token": token})
    assert created.status_code == 302 and created.headers["Location"] == "/admin/users"
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Utente new.person@example.com creato con ruolo ADMIN" in page
    assert 'data-email="new.person@example.com"' in page

    other = app.test_client()
    assert log_in(other, User(email="new.person@example.com"), password="a long password").status_code == 302
    assert "new.person@example.com · ADMIN" in other.get("/admin/connection").get_data(as_text=True)


def test_a_bad_new_user_is_refused_with_the_apis_rules_and_the_form_kept(client, super_admin, db_session):
    token = csrf_of(client, "/admin/users")
    short = client.post("/admin/users", data={"email": "short@example.com", "password": "short",
                                              "role": "ADMIN", "csrf_token": token})
    text = short.get_data(as_text=True)
    assert short.status_code == 422 and "password" in text and 'value="short@example.com"' in text
    assert client.post("/admin/users", data={"email": "x@example.com", "password": "a long password",
                                             "role": "KING", "csrf_token": token}).status_code == 422
    taken = client.post("/admin/users", data={"email": super_admin.email, "password": "a long password",
                                              "role": "ADMIN", "csrf_token": token})
    assert taken.status_code == 409
    assert db_session.query(User).filter(User.email.in_(["short@example.com", "x@example.com"])).count() == 0


def test_role_change_and_deactivation_act_at_the_users_next_click(client, super_admin, make_user, app, db_session):
    target = make_user(Role.PROFESSIONAL)
    theirs = app.test_client()
    log_in(theirs, target)
    assert theirs.get("/admin/bulk").status_code == 403
    token = csrf_of(client, "/admin/users")
    assert client.post(f"/admin/users/{target.id}", data={"role": "ADMIN", "csrf_token": token}).status_code == 302
    assert theirs.get("/admin/bulk").status_code == 200
    assert client.post(f"/admin/users/{target.id}", data={"active": "false", "csrf_token": token}).status_code == 302
    assert theirs.get("/admin/connection").headers["Location"].startswith("/admin/login")
    db_session.expire_all()
    assert db_session.get(User, target.id).active is False
    actions = [row.action for row in db_session.query(AuditLog).filter(AuditLog.target == f"user:{target.id}")]
    assert actions.count("user.update") == 2
    # nobody demotes or deactivates themself (the API's rule)
    assert client.post(f"/admin/users/{super_admin.id}", data={"active": "false", "csrf_token": token}).status_code == 409


def test_a_token_is_shown_once_works_on_the_api_and_stops_when_revoked(client, super_admin, db_session):
    token = csrf_of(client, "/admin/tokens")
    issued = client.post("/admin/tokens", data={"name": "crm", "role": "PROFESSIONAL", "days": "30", "csrf_token": token})
    page = issued.get_data(as_text=True)
    assert issued.status_code == 201
    bearer = re.search(r'<textarea id="issued-token" readonly rows="4">([^<]+)</textarea>', page).group(1)
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.status_code == 200 and me.json["data"]["role"] == "PROFESSIONAL" and me.json["data"]["kind"] == "token"
    assert bearer not in client.get("/admin/tokens").get_data(as_text=True)  # never shown again

    row = db_session.query(ApiToken).filter(ApiToken.name == "crm").one()
    assert client.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
    assert "revocato" in client.get("/admin/tokens").get_data(as_text=True)


def test_a_token_limited_to_a_session(client, super_admin, app):
    default = app.config["SETTINGS"].session_name
    token = csrf_of(client, "/admin/tokens")
    page = client.post("/admin/tokens", data={"name": "one", "role": "ADMIN", "allowedSessions": default,
                                              "csrf_token": token}).get_data(as_text=True)
    bearer = re.search(r'readonly rows="4">([^<]+)<', page).group(1)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"}).json["data"]["allowedSessions"] == [default]
    refused = client.post("/admin/tokens", data={"name": "x", "role": "ADMIN", "allowedSessions": "no-such-session",
                                                 "csrf_token": token})
    assert refused.status_code == 422


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PROFESSIONAL])
def test_admins_and_professionals_get_403_on_the_super_admin_pages(client, make_user, role):
    log_in(client, make_user(role))
    token = csrf_of(client, "/admin/connection")
    page = client.get("/admin/connection").get_data(as_text=True)
    assert 'href="/admin/users"' not in page
    for path in SUPER_ONLY:
        refused = client.get(path)
        assert refused.status_code == 403 and "PERMISSION_DENIED" in refused.get_data(as_text=True), path
    assert client.post("/admin/users", data={"email": "a@example.com", "password": "a long password",
                                             "role": "SUPER_ADMIN", "csrf_token": token}).status_code == 403
    assert client.post("/admin/errors/reset", data={"csrf_token": token}).status_code == 403
    # tokens follow /api/auth/tokens: who may MANAGE (an ADMIN), not a PROFESSIONAL
    assert client.get("/admin/tokens").status_code == (200 if role == Role.ADMIN else 403)


def test_admin_forms_without_the_csrf_token_are_refused(client, super_admin, make_user, db_session):
    target = make_user(Role.PROFESSIONAL)
    for path, data in (("/admin/users", {"email": "c@example.com", "password": "a long password", "role": "ADMIN"}),
                       (f"/admin/users/{target.id}", {"active": "false"}),
                       ("/admin/tokens", {"name": "t", "role": "ADMIN"}),
                       ("/admin/errors/reset", {})):
        for forged in ({}, {"csrf_token": "forged"}):
            refused = client.post(path, data={**data, **forged})
            assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True), path
    db_session.expire_all()
    assert db_session.get(User, target.id).active is True
    assert db_session.query(ApiToken).filter(ApiToken.name == "t").count() == 0


def test_the_audit_log_filters_by_actor_action_and_time_and_pages(client, super_admin, db_session, app):
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    now = datetime.now(timezone.utc)
    db_session.add_all([AuditLog(at=now - timedelta(minutes=n), action="demo.thing", outcome="success",
                                 actor="user:someone", actor_name="someone@example.com") for n in range(60)]
                       + [AuditLog(at=now - timedelta(days=3), action="demo.old", outcome="denied", actor="user:other")])
    db_session.commit()
    first = client.get("/admin/audit?action=demo.thing").get_data(as_text=True)
    assert first.count('<td class="action">demo.thing</td>') == 50 and 'id="next-page"' in first
    cursor = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(cursor).get_data(as_text=True)
    assert second.count('<td class="action">demo.thing</td>') == 10 and 'id="next-page"' not in second
    by_actor = client.get("/admin/audit?actor=user:other").get_data(as_text=True)
    assert "demo.old" in by_actor and "demo.thing" not in by_actor
    since = (now - timedelta(days=1)).astimezone(ZoneInfo(app.config["SETTINGS"].timezone)).strftime("%Y-%m-%dT%H:%M")
    recent = client.get(f"/admin/audit?action=demo.old&from={since}").get_data(as_text=True)
    assert "Nessuna voce con questi filtri." in recent
    assert client.get("/admin/audit?from=yesterday").status_code == 422
    assert client.get("/admin/audit?outcome=maybe").status_code == 422


def test_the_error_counters_of_a_session_are_reset(client, super_admin, db_session, app):
    from datetime import datetime, timezone

    session = app.config["SETTINGS"].session_name
    db_session.add(ErrorCounter(session=session, error_type="NOT_WHATSAPP", count=7, since=datetime.now(timezone.utc)))
    db_session.commit()
    page = client.get("/admin/errors").get_data(as_text=True)
    assert '<td class="count">7</td>' in page
    token = csrf_of(client, "/admin/errors")
    assert client.post("/admin/errors/reset", data={"csrf_token": token}).status_code == 302
    page = client.get("/admin/errors").get_data(as_text=True)
    assert '<td class="count">0</td>' in page and f"Contatori degli errori della sessione {session} azzerati" in page
    assert db_session.query(AuditLog).filter(AuditLog.action == "error_stats.reset").count() == 1


def test_a_super_admin_limited_to_a_session_changes_only_users_and_tokens_confined_to_it(
        client, make_user, db_session, app):
    """The API's rule (web.auth.authorize_grantee), through the panel's forms."""
    from datetime import datetime, timedelta, timezone

    default = app.config["SETTINGS"].session_name
    limited, unlimited = make_user(Role.SUPER_ADMIN), make_user(Role.PROFESSIONAL)
    db_session.get(User, limited.id).allowed_sessions = [default]
    token = ApiToken(name="everywhere", role=Role.CLIENT.value, expires_at=datetime.now(timezone.utc) + timedelta(days=1))
    db_session.add(token)
    db_session.commit()
    log_in(client, limited)
    csrf = csrf_of(client, "/admin/users")
    assert client.post(f"/admin/users/{unlimited.id}", data={"active": "false", "csrf_token": csrf}).status_code == 403
    assert client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf}).status_code == 403
    db_session.expire_all()
    assert db_session.get(User, unlimited.id).active and db_session.get(ApiToken, token.id).revoked_at is None
