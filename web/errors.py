"""Every error leaves the API in the one envelope of core/errors.py, with the right status."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from core.errors import STATUS_TYPES, GatewayError, error_body
from models.enums import ErrorType

log = logging.getLogger(__name__)


LANGUAGE_COOKIE = "wagateway_lang"  # the admin panel's language switch (web/admin/language.py)
LANGUAGES = ("it", "en")


def request_language() -> str:
    """Italian by default, English when `Accept-Language` prefers it; the panel's switch (a cookie
    scoped to /admin, so API calls never carry it) overrides the header."""
    if not request:
        return "it"
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="it")


def envelope_response(error: GatewayError):
    body = error_body(error.error_type, error.message, request_language(), error.details, error.retry,
                      error.texts)
    response = jsonify(body)
    response.status_code = error.status
    return response


def from_http_exception(error: HTTPException) -> GatewayError:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details = data.get("messages") if isinstance(data, dict) else None
    message = error.description or error.name
    if status == 422 and details:
        message = "the request does not match the schema"
    if status == 400 and details and "json" in details:
        message = "the body is not valid JSON"
    return GatewayError(status, message, STATUS_TYPES.get(status, ErrorType.UNKNOWN), details)


def database_unavailable(error: OperationalError):
    """The database is away (restarting, failing over, refusing connections) or gave up on this
    transaction (shutdown, deadlock): the request's work did not commit (unless the connection
    broke during the COMMIT itself, which no client can tell: an Idempotency-Key makes the retry
    safe), and a retry can succeed, so 503 with `retry`, not a 500. The pool discards the dead
    connections (core.db), so the app recovers when the server is back, without a restart."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig or error)
    return envelope_response(GatewayError(503, "the database is unavailable; retry in a few seconds",
                                          ErrorType.SERVICE_UNAVAILABLE, retry=True))


def _http_exception(error: HTTPException):
    # Flask wraps an error raised after the view (the boundary's commit, in an after_request
    # hook) in a 500 InternalServerError that keeps it as `original_exception`
    if isinstance(getattr(error, "original_exception", None), OperationalError):
        return database_unavailable(error.original_exception)
    return envelope_response(from_http_exception(error))


def register_error_handlers(app: Flask) -> None:
    """Call after flask-smorest's init_app, which registers its own HTTPException handler."""
    app.register_error_handler(GatewayError, envelope_response)

    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(HTTPException, _http_exception)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return envelope_response(GatewayError(500, "internal error", ErrorType.UNKNOWN))
