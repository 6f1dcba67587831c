"""Every route is checked against THE role table (web.auth.ROLE_CAPABILITIES) for every role.

A route must declare `@public` or `@requires(capability)`: an undeclared route fails here.
"""
import uuid

import pytest

from models.enums import Role
from web.auth import PUBLIC, ROLE_CAPABILITIES, Capability

SPEC_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
SAMPLE_VALUES = {"UUIDConverter": str(uuid.uuid4()), "IntegerConverter": "1"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("api-docs."):
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
    undeclared = [endpoint for endpoint, _m, _p, view in _routes(app) if not hasattr(view, "_access")]
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
