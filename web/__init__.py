"""The Flask application: it validates, records and queues; it never touches the browser."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, request

from core.errors import GatewayError
from core.logs import configure_logging
from core.settings import Settings, get_settings
from models.enums import ErrorType
from services.bulk import MAX_RECIPIENTS
from web.admin import PANEL_BLUEPRINT
from web.api.docs import SWAGGER_UI_URL
from web.transaction import JSON_METHODS


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    configure_logging(settings)
    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JWT_SECRET_KEY=settings.jwt_secret,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_days),
        JWT_TOKEN_LOCATION=["headers"],
        API_TITLE="WhatsApp Gateway API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_URL,
    )
    from web.auth import init_jwt
    from web.errors import register_error_handlers
    from flask_smorest import Api

    from web.schemas import ErrorSchema

    class GatewayApi(Api):
        ERROR_SCHEMA = ErrorSchema  # documents our envelope, not flask-smorest's default error shape
        DEFAULT_ERROR_RESPONSE_NAME = None  # each route lists its error codes (web.api.blueprint)

    from web.extensions import jwt
    from web.ratelimit import init_rate_limits
    from web.transaction import init_transaction
    from web.metrics import init_http_metrics
    from web.request_id import init_request_id

    init_http_metrics(app)  # first: its timer starts before any other hook runs
    init_request_id(app)  # next: every log line of the request carries its id
    init_transaction(app)
    app.before_request(_check_body)
    jwt.init_app(app)
    init_jwt(jwt)
    api = GatewayApi(app, spec_kwargs={
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "metricsToken": {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN"}}},
        "security": [{"bearerAuth": []}],
    })
    register_error_handlers(app)

    from web.admin import init_panel
    from web.api import register_blueprints
    from web.api.docs import blp as docs_assets
    from web.cli import register_cli

    register_blueprints(app, api)
    app.register_blueprint(docs_assets)
    init_panel(app, settings)
    register_cli(app)
    init_rate_limits(app, settings)  # last: it wraps the views that have a limit of their own
    return app


def _check_body():
    """Refuse bodies that are too large or not JSON before any view reads them."""
    req = request._get_current_object()  # one context lookup, not one per attribute (every request pays)
    if req.method not in JSON_METHODS or req.blueprint == PANEL_BLUEPRINT:  # the panel posts HTML forms
        return None
    view = current_app.view_functions.get(req.endpoint)
    larger = getattr(view, "_max_body", None)
    if callable(larger):  # a limit that follows a setting (MEDIA_MAX_BYTES)
        larger = larger(current_app.config["SETTINGS"])
    if larger:  # a view that takes big documents (see web.schemas.body_limit)
        req.max_content_length = larger
    if getattr(view, "_multipart", False):  # one `recipients` part per number in a multipart bulk
        req.max_form_parts = MAX_RECIPIENTS + 100
    length = req.content_length
    limit = req.max_content_length
    if length is not None and length > limit:
        raise GatewayError(413, f"body larger than {limit} bytes")
    has_body = bool(length) or req.headers.get("Transfer-Encoding") == "chunked"
    if has_body and not req.is_json and not (getattr(view, "_multipart", False)
                                             and req.mimetype == "multipart/form-data"):
        raise GatewayError(415, "send the body as application/json", ErrorType.VALIDATION_ERROR)
    return None
