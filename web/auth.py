"""Who may do what: the one role table, the principal behind a request, and the decorators.

Every view is either `@public` or `@requires(capability)`; the RBAC tests walk the URL map and
read ROLE_CAPABILITIES, so a route without a declaration fails the suite.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from functools import wraps

from flask import g
from flask_jwt_extended import JWTManager, current_user, verify_jwt_in_request
from sqlalchemy import select

from core.db import db
from core.errors import GatewayError
from models import ApiToken, User
from models.enums import ErrorType, Role


class Capability(StrEnum):
    AUTHENTICATED = "any authenticated caller (own profile)"
    VIEW = "view status, messages, stats, use templates and validation"
    SEND = "send single messages"
    BULK = "bulk sends and campaigns"
    CONNECTION = "manage the connection (initialize, disconnect, reconnect, logout)"
    MANAGE = "manage templates, contacts sync, error statistics, API tokens"
    ADMINISTER = "reset error counters, manage users, read the audit log"


_ALL = frozenset(Role)
_STAFF = frozenset({Role.PROFESSIONAL, Role.ADMIN, Role.SUPER_ADMIN})
_ADMINS = frozenset({Role.ADMIN, Role.SUPER_ADMIN})

# THE role table (issue #2). Decorators and tests both read it.
ROLE_CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.AUTHENTICATED: _ALL,
    Capability.VIEW: _STAFF,
    Capability.SEND: _STAFF,
    Capability.BULK: _ADMINS,
    Capability.CONNECTION: _ADMINS,
    Capability.MANAGE: _ADMINS,
    Capability.ADMINISTER: frozenset({Role.SUPER_ADMIN}),
}

PUBLIC = "public"


def allowed(role: Role | str, capability: Capability) -> bool:
    return Role(role) in ROLE_CAPABILITIES[capability]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user (people) or an API token (service clients)."""

    id: str  # "user:<uuid>" or "token:<uuid>", stored in audit rows and as idempotency scope
    kind: str
    role: Role
    name: str
    user_id: uuid.UUID | None = None


def current_principal() -> Principal | None:
    return g.get("principal")


def verify_access_token(optional: bool = False) -> bool:
    """Verify the request's access token (signature, expiry, type) and load its principal
    (`load_principal`: revocation and deactivation), at most once per request. The rate limiter's
    key function runs first; the view's `requires` then reuses its result instead of decoding the
    token and looking the principal up a second time. True when a valid access token was found."""
    if g.get("_access_token_verified"):
        return True
    if verify_jwt_in_request(optional=optional) is None:
        return False
    g._access_token_verified = True
    return True


def public(view):
    view._access = PUBLIC
    return view


def requires(capability: Capability, *, refresh: bool = False):
    """Authenticate the JWT, then check the role against ROLE_CAPABILITIES, before the handler
    parses its input: a caller without the right gets 403 whatever the body."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if refresh:
                verify_jwt_in_request(refresh=True)
            else:
                verify_access_token()
            principal: Principal = current_user
            g.principal = principal
            if not allowed(principal.role, capability):
                raise GatewayError(403, f"role {principal.role} may not: {capability.value}",
                                   ErrorType.PERMISSION_DENIED)
            return view(*args, **kwargs)

        wrapper._access = capability
        wrapper._refresh = refresh
        return wrapper

    return decorator


def user_principal(user: User) -> Principal:
    return Principal(f"user:{user.id}", "user", Role(user.role), user.email, user.id)


def load_principal(identity: str) -> Principal | None:
    """Resolve a token's subject on every request, so deactivation and revocation act at once."""
    kind, _, raw_id = identity.partition(":")
    try:
        object_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    if kind == "user":  # every request: a primary-key lookup of the three columns needed
        user = db.execute(select(User.email, User.role, User.active).where(User.id == object_id)).first()
        if user is None or not user.active:
            return None
        return Principal(f"user:{object_id}", kind, Role(user.role), user.email, object_id)
    if kind == "token":
        token = db.get(ApiToken, object_id)
        if token is None or not token.is_usable(datetime.now(timezone.utc)):
            return None
        return Principal(identity, kind, Role(token.role), token.name)
    return None


def init_jwt(jwt: JWTManager) -> None:
    from web.errors import envelope_response

    @jwt.user_lookup_loader
    def _lookup(_header, payload):
        return load_principal(payload["sub"])

    def _unauthorized(message):
        return envelope_response(GatewayError(401, message, ErrorType.AUTHENTICATION_ERROR))

    jwt.user_lookup_error_loader(lambda _h, _p: _unauthorized("token revoked, expired or user disabled"))
    jwt.unauthorized_loader(lambda reason: _unauthorized(f"missing bearer token: {reason}"))
    jwt.invalid_token_loader(lambda reason: _unauthorized(f"invalid token: {reason}"))
    jwt.expired_token_loader(lambda _h, _p: _unauthorized("token has expired"))
    jwt.revoked_token_loader(lambda _h, _p: _unauthorized("token has been revoked"))
    jwt.needs_fresh_token_loader(lambda _h, _p: _unauthorized("a fresh login is required"))
    jwt.token_verification_failed_loader(lambda _h, _p: _unauthorized("token claims not accepted"))
