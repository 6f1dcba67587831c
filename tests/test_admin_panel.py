"""The admin panel (/admin) through Flask's test client: login, the session cookie, CSRF, and THE
role table deciding what each page shows and allows. tests/test_admin_browser.py drives it in a
real browser against a real worker."""
import re

import pytest

from models import User
from models.enums import Role
from tests.fixtures.web import PASSWORD
from tests.test_rbac import _routes
from web.auth import PUBLIC, ROLE_CAPABILITIES

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path="/admin/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def log_in(client, user, password=PASSWORD):
    token = csrf_of(client)
    return client.post("/admin/login", data={"email": user.email, "password": password, "csrf_token": token})


@pytest.fixture
def logged_in(client, make_user):
    """`logged_in(Role.ADMIN)` -> the CSRF token of a panel session of a new user in that role."""

    def make(role):
        user = make_user(role)
        assert log_in(client, user).status_code == 302
        return csrf_of(client)  # the login form shows the session's (new) token: a CLIENT has no other page

    return make


def test_login_sets_an_httponly_samesite_lax_cookie_and_logout_ends_it(client, make_user):
    user = make_user(Role.ADMIN)
    response = log_in(client, user)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/connection"
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("wagateway_admin="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    page = client.get("/admin/connection")
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    token = csrf_of(client, "/admin/connection")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/connection").headers["Location"].startswith("/admin/login")


def test_wrong_password_stays_on_the_login_form(client, make_user):
    response = log_in(client, make_user(Role.ADMIN), password="wrong")
    assert response.status_code == 401 and 'id="login-error"' in response.get_data(as_text=True)
    assert client.get("/admin/connection").status_code == 302


def test_anonymous_pages_go_to_login_and_fragments_answer_401(client):
    page = client.get("/admin/connection?session=x")
    assert page.status_code == 302 and page.headers["Location"] == "/admin/login?next=/admin/connection?session%3Dx"
    assert client.get("/admin/connection/state", headers={"X-Panel-Fragment": "1"}).status_code == 401


def test_login_goes_back_only_to_a_panel_page(client, make_user):
    user = make_user(Role.ADMIN)
    token = csrf_of(client)
    for target, lands in [("/admin/connection?session=x", "/admin/connection?session=x"),
                          ("https://evil.example/admin", "/admin/connection"),
                          ("//evil.example/admin", "/admin/connection")]:
        response = client.post("/admin/login", data={"email": user.email, "password": PASSWORD,
                                                     "csrf_token": token, "next": target})
        assert response.headers["Location"] == lands
        token = csrf_of(client)


def test_forms_without_the_csrf_token_are_refused(client, make_user, logged_in):
    user = make_user(Role.ADMIN)
    refused = client.post("/admin/login", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    token = logged_in(Role.SUPER_ADMIN)
    for data in ({"command": "initialize"}, {"command": "initialize", "csrf_token": "forged"}):
        response = client.post("/admin/connection/command", data=data)
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert client.post("/admin/logout", data={}).status_code == 400
    # with the token the form is accepted (503 here: no worker serves the session)
    accepted = client.post("/admin/connection/command", data={"command": "initialize", "csrf_token": token})
    assert accepted.status_code == 503 and "CONNECTION_ERROR" in accepted.get_data(as_text=True)


def test_a_login_gets_a_new_csrf_token(client, make_user):
    before = csrf_of(client)
    log_in(client, make_user(Role.ADMIN))
    assert csrf_of(client, "/admin/connection") != before


def test_a_professional_sees_the_state_but_no_connection_controls(client, logged_in):
    token = logged_in(Role.PROFESSIONAL)
    page = client.get("/admin/connection").get_data(as_text=True)
    assert 'id="connection-state"' in page and 'id="state"' in page
    assert 'id="controls"' not in page and "command-initialize" not in page
    # nor by URL
    assert client.post("/admin/connection/command", data={"command": "logout", "csrf_token": token}).status_code == 403
    assert client.get("/admin/connection/qr.png").status_code == 403
    assert client.post("/admin/connection/pairing-code",
                       data={"phoneNumber": "3331234567", "csrf_token": token}).status_code == 403


def test_an_admin_sees_the_controls(client, logged_in):
    logged_in(Role.ADMIN)
    page = client.get("/admin/connection").get_data(as_text=True)
    assert all(f"command-{name}" in page for name in ("initialize", "reconnect", "disconnect", "logout"))
    assert 'data-confirm=' in page and 'name="phoneNumber"' in page


def test_a_deactivated_user_is_out_at_the_next_click(client, make_user, db_session):
    user = make_user(Role.ADMIN)
    log_in(client, user)
    assert client.get("/admin/connection").status_code == 200
    db_session.get(User, user.id).active = False  # the request closed the session `user` came from
    db_session.commit()
    assert client.get("/admin/connection").headers["Location"].startswith("/admin/login")


def test_an_unknown_or_malformed_session_is_an_error_page_not_a_500(client, logged_in):
    logged_in(Role.ADMIN)
    assert client.get("/admin/connection?session=nope").status_code == 404
    assert client.get("/admin/connection?session=Bad%0Aname").status_code == 422
    assert client.get("/admin/connection/state?session=nope", headers={"X-Panel-Fragment": "1"}).status_code == 404


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_allowed_exactly_what_the_table_says_in_the_panel(app, client, logged_in, role):
    token = logged_in(role)
    mismatches = []
    for endpoint, method, path, view in _routes(app, panel=True):
        if view._access == PUBLIC or endpoint == "admin.logout":
            continue
        data = {"csrf_token": token} if method == "POST" else None
        response = client.open(path, method=method, data=data)
        status = response.status_code
        expected_allowed = role in ROLE_CAPABILITIES[view._access]
        to_login = status == 302 and response.headers["Location"].startswith("/admin/login")
        if expected_allowed and (status in (401, 403) or to_login or status >= 500):
            mismatches.append((endpoint, method, status, "should be allowed"))
        if not expected_allowed and status != 403:
            mismatches.append((endpoint, method, status, "should be 403"))
    assert mismatches == []


def test_the_session_picker_lists_only_the_sessions_the_user_may_use(client, make_user, db_session, app):
    from models import WaSession

    default = app.config["SETTINGS"].session_name
    other, hidden = f"{default}-b", f"{default}-c"
    db_session.add_all([WaSession(name=other), WaSession(name=hidden)])
    db_session.commit()
    user = make_user(Role.ADMIN)
    db_session.get(User, user.id).allowed_sessions = [default, other]
    db_session.commit()
    log_in(client, user)
    page = client.get(f"/admin/connection?session={other}").get_data(as_text=True)
    assert f"Sessione {other}:" in page and f'<option value="{other}" selected>' in page
    assert f'<option value="{default}"' in page and hidden not in page
    refused = client.get(f"/admin/connection?session={hidden}")
    assert refused.status_code == 403 and "PERMISSION_DENIED" in refused.get_data(as_text=True)


def test_the_panel_root_opens_the_connection_page(client, logged_in):
    logged_in(Role.PROFESSIONAL)
    assert client.get("/admin/").headers["Location"] == "/admin/connection"


def test_the_panel_issues_the_stream_token_of_the_logged_in_user_against_its_csrf_token(client, logged_in, app):
    """The pages' EventSource opens GET /api/events with a token from the panel (its cookie, not a
    bearer token): the API's own stream token, of this user, so the stream applies the same role
    table (tests/test_events.py). Without the CSRF token, or logged out, no token."""
    from web.auth import stream_principal

    csrf = logged_in(Role.PROFESSIONAL)
    assert client.post("/admin/events/token").status_code == 400
    response = client.post("/admin/events/token", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201 and response.json["data"]["expiresIn"] == 60
    token = response.json["data"]["token"]
    with app.test_request_context():
        principal = stream_principal(token)
    assert principal.role == Role.PROFESSIONAL and principal.kind == "user"
    stream = client.get(f"/api/events?types=session.state&token={token}", buffered=False)
    try:
        assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
        assert next(iter(stream.response)).startswith(b"retry:")
    finally:
        stream.close()
    client.post("/admin/logout", data={"csrf_token": csrf})
    anonymous = csrf_of(client)  # the login form's token: the CSRF check passes, the login check does not
    assert client.post("/admin/events/token", headers={"X-CSRF-Token": anonymous, "X-Panel-Fragment": "1"}).status_code == 401
