"""Liveness and readiness probes (for docker-compose, Kubernetes or a load balancer)."""
from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import text

from core.db import db
from core.errors import GatewayError
from core.redis import get_redis
from models.enums import ErrorType
from web.api.blueprint import Blueprint
from web.auth import public
from web.schemas import envelope, ok

blp = Blueprint("health", __name__, description="Process liveness and readiness")


class AliveSchema(Schema):
    status = fields.String(metadata={"example": "alive"})


class ReadySchema(Schema):
    status = fields.String(metadata={"example": "ready"})
    database = fields.String(metadata={"example": "ok"})
    redis = fields.String(metadata={"example": "ok"})


@blp.route("/healthz")
@public
@blp.doc(security=[])
@blp.response(200, envelope(AliveSchema))
def healthz():
    """The process is alive (no dependency is checked)."""
    return ok({"status": "alive"})


@blp.route("/readyz")
@public
@blp.doc(security=[])
@blp.response(200, envelope(ReadySchema))
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz():
    """The database and Redis answer; 503 naming the failing part otherwise."""
    failing = {}
    try:
        db.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        failing["database"] = type(exc).__name__
    try:
        get_redis().ping()
    except Exception as exc:
        failing["redis"] = type(exc).__name__
    if failing:
        raise GatewayError(503, f"not ready: {', '.join(failing)} unreachable", ErrorType.SERVICE_UNAVAILABLE,
                           details=failing)
    return ok({"status": "ready", "database": "ok", "redis": "ok"})
