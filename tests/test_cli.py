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
