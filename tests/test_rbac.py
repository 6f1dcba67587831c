"""Every route is checked against THE role table (web.auth.ROLE_CAPABILITIES) for every role.

A route must declare `@public` or `@requires(capability)`: an undeclared route fails here.
"""
import uuid

import pytest

from models.enums import Role
from web.auth import PUBLIC, ROLE_CAPABILITIES, Capability

SPEC_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
SAMPLE_VALUES = {"UUIDConverter": str(uuid.uuid4()), "IntegerConverter": "1"}


def _routes(app, panel: bool = False):
    """The API's routes (bearer tokens), or with `panel` the admin panel's (session cookie: walked
    per role by tests/test_admin_panel.py), each as (endpoint, method, path, view)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("api-docs."):
            continue
        if rule.endpoint.startswith("admin.") != panel:
            continue
        view = app.view_functions[rule.endpoint]
        path = rule.build({name: SAMPLE_VALUES.get(type(conv).__name__, "393331234567")
                           for name, conv in rule._converters.items()}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path, view


def _call(client, method, path, headers):
    kwargs = {"headers": headers}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    return client.open(path, method=method, **kwargs)


def test_every_route_declares_its_access(app):
    undeclared = [endpoint for panel in (False, True) for endpoint, _m, _p, view in _routes(app, panel)
                  if not hasattr(view, "_access")]
    assert undeclared == []
    assert {endpoint for endpoint, *_ in _routes(app)} >= {"auth.login", "auth.me", "audit.list_audit"}


def test_the_table_has_a_row_for_every_capability():
    assert set(ROLE_CAPABILITIES) == set(Capability)
    assert ROLE_CAPABILITIES[Capability.ADMINISTER] == {Role.SUPER_ADMIN}
    assert Role.CLIENT not in ROLE_CAPABILITIES[Capability.VIEW]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_allowed_exactly_what_the_table_says(app, client, auth_headers, role):
    access_headers = auth_headers(role)
    refresh_headers = auth_headers(role, refresh=True)
    mismatches = []
    for endpoint, method, path, view in _routes(app):
        if view._access == PUBLIC:
            continue
        headers = refresh_headers if getattr(view, "_refresh", False) else access_headers
        status = _call(client, method, path, headers).status_code
        expected_allowed = role in ROLE_CAPABILITIES[view._access]
        if expected_allowed and status in (401, 403):
            mismatches.append((endpoint, method, status, "should be allowed"))
        if not expected_allowed and status != 403:
            mismatches.append((endpoint, method, status, "should be 403"))
    assert mismatches == []


def test_anonymous_callers_get_401_on_every_protected_route(app, client):
    wrong = []
    for endpoint, method, path, view in _routes(app):
        if view._access == PUBLIC:
            continue
        response = _call(client, method, path, {})
        if response.status_code != 401 or response.json["error"]["type"] != "AUTHENTICATION_ERROR":
            wrong.append((endpoint, method, response.status_code))
    assert wrong == []


def test_denied_answers_use_the_envelope(client, auth_headers):
    response = client.get("/api/audit", headers=auth_headers(Role.ADMIN))
    assert response.status_code == 403
    error = response.json["error"]
    assert error["type"] == "PERMISSION_DENIED" and error["userMessage"] and error["suggestions"]


@pytest.fixture
def limited_to_default(app, make_user, auth_headers, db_session):
    """`limited_to_default("user" | "token")` -> headers of a SUPER_ADMIN user or API token allowed only
    the default session, and the name of another live session."""
    from datetime import datetime, timedelta, timezone

    from flask_jwt_extended import create_access_token

    from models import ApiToken, WaSession

    default = app.config["SETTINGS"].session_name
    other = f"{default}-other"
    db_session.add(WaSession(name=other))
    db_session.commit()

    def make(kind: str) -> tuple[dict[str, str], str]:
        if kind == "user":
            user = make_user(Role.SUPER_ADMIN)
            user.allowed_sessions = [default]
            db_session.commit()
            return auth_headers(Role.SUPER_ADMIN, user=user), other
        token = ApiToken(name="crm", role=Role.SUPER_ADMIN.value, allowed_sessions=[default],
                         expires_at=datetime.now(timezone.utc) + timedelta(days=1))
        db_session.add(token)
        db_session.commit()
        with app.app_context():
            bearer = create_access_token(f"token:{token.id}", additional_claims={"role": token.role})
        return {"Authorization": f"Bearer {bearer}"}, other

    return make


@pytest.mark.parametrize("kind", ["user", "token"])
def test_a_caller_limited_to_one_session_gets_403_on_another_on_every_route_that_takes_one(
        app, client, limited_to_default, kind):
    headers, other = limited_to_default(kind)
    scoped = [(endpoint, method, path) for endpoint, method, path, view in _routes(app)
              if getattr(view, "_session_scoped", False)]
    assert len(scoped) >= 15  # status, send, bulk, lists, QR, stats, validation, scheduling...
    wrong = []
    for endpoint, method, path in scoped:
        elsewhere = _call(client, method, f"{path}?session={other}", headers)
        if elsewhere.status_code != 403 or elsewhere.json["error"]["type"] != "PERMISSION_DENIED":
            wrong.append((endpoint, method, elsewhere.status_code, "should be 403 on another session"))
        own = _call(client, method, path, headers)
        if own.status_code in (401, 403):
            wrong.append((endpoint, method, own.status_code, "should be allowed on its own session"))
    assert wrong == []


def _grantee_routes(app):
    """Every API route that changes or revokes one user or API token, found in the URL map (the
    panel's call the same functions: tests/test_admin_accounts.py)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            continue
        for arg in {"token_id", "user_id"} & set(rule.arguments):
            for method in sorted(rule.methods & {"PATCH", "PUT", "POST", "DELETE"}):
                yield rule, method, arg


@pytest.mark.parametrize("kind", ["user", "token"])
def test_a_caller_limited_to_some_sessions_changes_only_users_and_tokens_confined_to_them(
        app, client, limited_to_default, make_user, db_session, kind):
    from datetime import datetime, timedelta, timezone

    from models import ApiToken

    headers, other = limited_to_default(kind)
    default = app.config["SETTINGS"].session_name
    routes = list(_grantee_routes(app))
    assert {(rule.endpoint, method) for rule, method, _ in routes} >= {
        ("auth.update_token", "PATCH"), ("auth.revoke_token", "DELETE"), ("users.update_user", "PATCH")}

    def target(arg: str, sessions: list[str] | None):
        if arg == "user_id":
            user = make_user(Role.PROFESSIONAL)
            user.allowed_sessions = sessions
            db_session.commit()
            return user
        token = ApiToken(name="team", role=Role.CLIENT.value, allowed_sessions=sessions,
                         expires_at=datetime.now(timezone.utc) + timedelta(days=1))
        db_session.add(token)
        db_session.commit()
        return token

    wrong = []
    for rule, method, arg in routes:
        for sessions, allowed in ((None, False), ([other], False), ([default, other], False), ([default], True)):
            row = target(arg, sessions)
            model, row_id = type(row), row.id
            path = rule.build({arg: str(row_id)}, append_unknown=False)[1]
            answer = client.open(path, method=method, headers=headers,
                                 json={"allowedSessions": None} if method != "DELETE" else None)
            db_session.expire_all()
            row = db_session.get(model, row_id)
            if allowed and answer.status_code != 200:
                wrong.append((rule.endpoint, method, sessions, answer.status_code, "should be allowed"))
            if not allowed and (answer.status_code != 403 or row.allowed_sessions != sessions
                                or getattr(row, "revoked_at", None) is not None):
                wrong.append((rule.endpoint, method, sessions, answer.status_code, "should be 403, unchanged"))
    assert wrong == []
