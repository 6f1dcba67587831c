"""Every error leaves the API in the one envelope of core/errors.py, with the right status."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from core.errors import STATUS_TYPES, GatewayError, error_body
from models.enums import ErrorType

log = logging.getLogger(__name__)


def request_language() -> str:
    return request.accept_languages.best_match(["it", "en"], default="it") if request else "it"


def envelope_response(error: GatewayError):
    body = error_body(error.error_type, error.message, request_language(), error.details, error.retry)
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


def register_error_handlers(app: Flask) -> None:
    """Call after flask-smorest's init_app, which registers its own HTTPException handler."""
    app.register_error_handler(GatewayError, envelope_response)

    app.register_error_handler(HTTPException, lambda error: envelope_response(from_http_exception(error)))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return envelope_response(GatewayError(500, "internal error", ErrorType.UNKNOWN))
