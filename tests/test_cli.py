from datetime import datetime, timezone

from models import ApiToken, User


def test_users_create_reads_the_password_from_the_named_variable(app, db_session, monkeypatch):
    monkeypatch.setenv("NEW_ADMIN_PASSWORD", "a long enough password")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "Boss@Example.com", "--role", "super_admin", "--password-env", "NEW_ADMIN_PASSWORD"])
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    user = db_session.query(User).filter_by(email="boss@example.com").one()
    assert user.role == "SUPER_ADMIN" and user.password_hash.startswith("$argon2id$")

    again = app.test_cli_runner().invoke(
        args=["users", "create", "boss@example.com", "--role", "ADMIN", "--password-env", "NEW_ADMIN_PASSWORD"])
    assert again.exit_code != 0 and "exists already" in again.output


def test_users_create_prompts_without_echo(app, db_session):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "pro@example.com", "--role", "PROFESSIONAL"],
        input="another good password\nanother good password\n")
    assert result.exit_code == 0, result.output
    assert "another good password" not in result.output


def test_tokens_issue_prints_a_working_token(app, client, db_session):
    result = app.test_cli_runner().invoke(args=["tokens", "issue", "crm", "--role", "PROFESSIONAL", "--days", "7"])
    assert result.exit_code == 0, result.output
    bearer = result.output.strip().splitlines()[-1]
    assert db_session.query(ApiToken).filter_by(name="crm").one().role == "PROFESSIONAL"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.status_code == 200 and me.json["data"]["kind"] == "token"


def test_tokens_issue_can_limit_the_token_to_sessions_that_exist(app, client, db_session):
    default = app.config["SETTINGS"].session_name
    result = app.test_cli_runner().invoke(args=["tokens", "issue", "crm", "--role", "PROFESSIONAL",
                                                "--session", default])
    assert result.exit_code == 0, result.output
    bearer = result.output.strip().splitlines()[-1]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.json["data"]["allowedSessions"] == [default]
    typo = app.test_cli_runner().invoke(args=["tokens", "issue", "crm", "--role", "CLIENT", "--session", "nobody-x"])
    assert typo.exit_code != 0 and "nobody-x" in typo.output


def test_tokens_set_sessions_changes_what_a_live_token_may_use(app, client, db_session):
    from models import WaSession

    default = app.config["SETTINGS"].session_name
    other = f"{default}-cli"
    db_session.add(WaSession(name=other))
    db_session.commit()
    runner = app.test_cli_runner()
    issued = runner.invoke(args=["tokens", "issue", "crm", "--role", "PROFESSIONAL", "--session", default])
    bearer = issued.output.strip().splitlines()[-1]
    token_id = str(db_session.query(ApiToken).filter_by(name="crm").one().id)
    headers = {"Authorization": f"Bearer {bearer}"}
    assert client.get(f"/api/whatsapp/status?session={other}", headers=headers).status_code == 403

    moved = runner.invoke(args=["tokens", "set-sessions", token_id, "--session", other])
    assert moved.exit_code == 0 and f"may use {other}" in moved.output, moved.output
    assert client.get("/api/auth/me", headers=headers).json["data"]["allowedSessions"] == [other]  # at once
    assert client.get(f"/api/whatsapp/status?session={default}", headers=headers).status_code == 403
    widened = runner.invoke(args=["tokens", "set-sessions", token_id, "--all"])
    assert widened.exit_code == 0 and "every session" in widened.output
    assert client.get("/api/auth/me", headers=headers).json["data"]["allowedSessions"] is None

    for args, says in ((["--session", "nobody-x"], "nobody-x"), ([], "either --session"),
                       (["--all", "--session", other], "either --session")):
        refused = runner.invoke(args=["tokens", "set-sessions", token_id, *args])
        assert refused.exit_code != 0 and says in refused.output, (args, refused.output)
    assert client.get("/api/auth/me", headers=headers).json["data"]["allowedSessions"] is None  # unchanged
    unknown = runner.invoke(args=["tokens", "set-sessions", "00000000-0000-0000-0000-000000000001", "--all"])
    assert unknown.exit_code != 0 and "no API token with this id" in unknown.output
    db_session.query(ApiToken).filter_by(name="crm").one().revoked_at = datetime.now(timezone.utc)
    db_session.commit()
    revoked = runner.invoke(args=["tokens", "set-sessions", token_id, "--all"])
    assert revoked.exit_code != 0 and "revoked" in revoked.output
