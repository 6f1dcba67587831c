"""Every state-changing request leaves an audit row; SUPER_ADMIN reads them with filters and pages."""
from models import AuditLog
from models.enums import Role
from tests.fixtures.web import PASSWORD


def test_successful_failed_and_denied_requests_are_audited(client, make_user, auth_headers, db_session):
    email = make_user(Role.ADMIN).email
    client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    client.post("/api/auth/login", json={"email": email, "password": "not the password"})
    client.post("/api/auth/tokens", json={"name": "x", "role": "ADMIN"}, headers=auth_headers(Role.CLIENT))
    client.post("/api/auth/tokens", json={"name": "x", "role": "NOPE"}, headers=auth_headers(Role.ADMIN))

    rows = db_session.query(AuditLog).order_by(AuditLog.id).all()
    assert [(r.action, r.outcome, r.status_code) for r in rows] == [
        ("auth.login", "success", 200),
        ("auth.login", "denied", 401),
        ("auth.issue_token", "denied", 403),
        ("auth.issue_token", "invalid", 422),
    ]
    assert rows[0].actor_name == email and rows[0].role == "ADMIN" and rows[0].ip.startswith("10.")
    assert rows[1].actor is None and rows[1].actor_name == email
    assert rows[2].role == "CLIENT"


def test_reads_are_not_audited(client, auth_headers, db_session):
    client.get("/api/auth/me", headers=auth_headers(Role.ADMIN))
    assert db_session.query(AuditLog).count() == 0


def test_super_admin_lists_the_log_with_filters_and_cursor_pagination(client, auth_headers):
    admin = auth_headers(Role.ADMIN)
    for n in range(5):
        client.post("/api/auth/tokens", json={"name": f"svc{n}", "role": "CLIENT"}, headers=admin)
    client.post("/api/auth/tokens", json={}, headers=admin)
    root = auth_headers(Role.SUPER_ADMIN)

    first = client.get("/api/audit?limit=2&action=auth.issue_token&outcome=success", headers=root).json
    assert len(first["data"]) == 2 and first["nextCursor"]
    seen = [row["details"]["name"] for row in first["data"]]
    cursor = first["nextCursor"]
    while cursor:
        page = client.get(f"/api/audit?limit=2&action=auth.issue_token&outcome=success&cursor={cursor}",
                          headers=root).json
        seen += [row["details"]["name"] for row in page["data"]]
        cursor = page["nextCursor"]
    assert seen == ["svc4", "svc3", "svc2", "svc1", "svc0"]  # newest first, no duplicates, no gaps

    invalid = client.get("/api/audit?outcome=invalid", headers=root).json["data"]
    assert [row["statusCode"] for row in invalid] == [422]
