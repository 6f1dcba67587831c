def test_healthz_and_readyz(client):
    assert client.get("/healthz").json["data"] == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["data"]["database"] == "ok"


def test_readyz_names_the_failing_part(client, monkeypatch):
    import web.api.health as health

    class DeadRedis:
        def ping(self):
            raise ConnectionError("refused")

    monkeypatch.setattr(health, "get_redis", lambda: DeadRedis())
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["error"]["type"] == "SERVICE_UNAVAILABLE"
    assert response.json["error"]["details"] == {"redis": "ConnectionError"}


def test_openapi_documents_the_bearer_scheme_and_routes(client):
    spec = client.get("/api/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/api/auth/login"]["post"]["security"] == []
    assert "/api/audit" in spec["paths"]
    assert client.get("/api/docs").status_code == 200


def test_swagger_ui_assets_are_served_locally(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/docs/static/swagger-ui-bundle.js" in page
    asset = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_openapi_documents_our_error_envelope(client):
    spec = client.get("/api/openapi.json").json
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"success", "error"}
    detail = spec["components"]["schemas"]["ErrorDetail"]["properties"]
    assert set(detail) == {"type", "message", "userMessage", "retry", "suggestions", "details"}


def test_the_periodic_health_check_covers_every_active_session(committed_db, redis_client):
    """Beat's health check and QR purge look at each active session, not only SESSION_NAME's."""
    from core.settings import get_settings
    from services import sessions
    from tasks.health import check_session
    from tasks.maintenance import purge_qr_payloads

    settings = get_settings()
    sessions.create(committed_db, settings, name="secondo", by=None)
    sessions.create(committed_db, settings, name="spento", by=None, active=False)
    committed_db.commit()
    redis_client.hset("wa:secondo:state", mapping={"qr": "2@old", "qr_at": "2000-01-01T00:00:00+00:00"})
    try:
        reports = check_session()
        assert {settings.session_name, "secondo"} <= set(reports) and "spento" not in reports
        assert reports["secondo"]["state"] == "STOPPED" and "no worker" in reports["secondo"]["alerts"][0]
        assert "secondo" in purge_qr_payloads()
    finally:
        redis_client.delete("wa:secondo:state")
