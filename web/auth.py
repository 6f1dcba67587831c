"""Who may do what: the one role table, the principal behind a request, and the decorators.

Every view is either `@public` or `@requires(capability)`; the RBAC tests walk the URL map and
read ROLE_CAPABILITIES, so a route without a declaration fails the suite.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import StrEnum
from functools import wraps
from itertools import chain

import redis
from flask import current_app, g, request
from flask_jwt_extended import JWTManager, current_user, decode_token, verify_jwt_in_request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.db import after_commit, db
from core.errors import GatewayError
from core.redis import Keys, get_redis
from models import ApiToken, User
from models.enums import ErrorType, Role


class Capability(StrEnum):
    AUTHENTICATED = "any authenticated caller (own profile)"
    VIEW = "view status, messages, stats, use templates and validation"
    SEND = "send single messages"
    BULK = "bulk sends and campaigns"
    GROUPS = "create and change WhatsApp groups (participants, subject, description, invite link, leave)"
    CONNECTION = "manage the connection (initialize, disconnect, reconnect, logout)"
    MANAGE = "manage templates, contacts sync, error statistics, alerts, API tokens, webhooks, read runtime settings"
    SESSIONS = "manage WhatsApp sessions (create, change, delete)"
    ADMINISTER = "reset error counters, manage users, read the audit log, change runtime settings"


_ALL = frozenset(Role)
_STAFF = frozenset({Role.PROFESSIONAL, Role.ADMIN, Role.SUPER_ADMIN})
_ADMINS = frozenset({Role.ADMIN, Role.SUPER_ADMIN})

# THE role table (issue #2). Decorators and tests both read it.
ROLE_CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.AUTHENTICATED: _ALL,
    Capability.VIEW: _STAFF,
    Capability.SEND: _STAFF,
    Capability.BULK: _ADMINS,
    Capability.GROUPS: _ADMINS,
    Capability.CONNECTION: _ADMINS,
    Capability.MANAGE: _ADMINS,
    Capability.SESSIONS: _ADMINS,
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
    sessions: tuple[str, ...] | None = None  # the WhatsApp sessions it may use; None = all


def current_principal() -> Principal | None:
    return g.get("principal")


REVOKED = "token revoked, expired or user disabled"


def authenticate() -> Principal:
    """The principal behind the request's access token: signature, expiry and type checked by
    `bearer_identity`, revocation and deactivation by `load_principal`. Without a valid access
    token, flask-jwt-extended raises the 401 that names the problem (missing, malformed, expired,
    a refresh token); its own full verification is not repeated for a token already verified."""
    identity = bearer_identity()
    if identity is None:
        verify_jwt_in_request()
        raise GatewayError(401, "invalid token", ErrorType.AUTHENTICATION_ERROR)  # both accept the same tokens
    principal = load_principal(identity)
    if principal is None:
        raise GatewayError(401, REVOKED, ErrorType.AUTHENTICATION_ERROR)
    return principal


_UNKNOWN = object()


class VerifiedTokens:
    """The claims of access tokens already verified, keyed by the exact token string and the
    secret that verified it: a client's next request skips PyJWT's signature check and parsing
    (a fifth of /send's CPU). A different string (tampered, forged) is never a hit; expiry is
    checked on every hit. Bounded crudely: live clients refill it with one decode each."""

    KEPT = 10_000

    def __init__(self):
        self._claims: dict[tuple[str, str], dict] = {}

    def claims(self, token: str) -> dict:
        key = (current_app.config["JWT_SECRET_KEY"], token)
        claims = self._claims.get(key)
        if claims is not None and claims["exp"] + current_app.config["JWT_DECODE_LEEWAY"] > time.time():
            return claims
        claims = decode_token(token)  # flask-jwt-extended's full verification; raises on a bad token
        if len(self._claims) >= self.KEPT:
            self._claims.clear()
        if "exp" in claims:
            self._claims[key] = claims
        return claims


_verified = VerifiedTokens()


def bearer_identity() -> str | None:
    """The subject of the request's `Authorization: Bearer` access token when its signature,
    expiry and type check out, else None; once per request. Revocation and deactivation are not
    checked here: the rate limiter only needs to know whom to count, and `authenticate` adds them."""
    store = g._get_current_object()
    identity = store.get("_bearer_identity", _UNKNOWN)
    if identity is _UNKNOWN:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        identity = None
        if scheme == "Bearer" and token:
            try:
                claims = _verified.claims(token)
            except Exception:  # noqa: BLE001 - any bad token: the view answers it 401
                claims = {}
            if claims.get("type") == "access":
                identity = claims.get("sub")
        store._bearer_identity = identity
    return identity


def public(view):
    view._access = PUBLIC
    return view


def requires(capability: Capability, *, refresh: bool = False, stream_token: bool = False):
    """Authenticate the JWT, then check the role against ROLE_CAPABILITIES, before the handler
    parses its input: a caller without the right gets 403 whatever the body. `stream_token`: a
    request without an Authorization header may instead carry a stream token in `?token=`
    (browsers' EventSource cannot send headers)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if refresh:
                verify_jwt_in_request(refresh=True)
                principal: Principal = current_user
            elif stream_token and "Authorization" not in request.headers and request.args.get("token"):
                principal = stream_principal(request.args["token"])
            else:
                principal = authenticate()
            g.principal = principal
            if not allowed(principal.role, capability):
                raise GatewayError(403, f"role {principal.role} may not: {capability.value}",
                                   ErrorType.PERMISSION_DENIED)
            return view(*args, **kwargs)

        wrapper._access = capability
        wrapper._refresh = refresh
        wrapper._stream_token = stream_token
        return wrapper

    return decorator


STREAM_TOKEN_SECONDS = 60
_STREAM_SALT = "events-stream"


def issue_stream_token(principal: Principal) -> str:
    """A short-lived token that opens the event stream only (never a bearer token: one that
    leaks from a URL in a log opens no other route, and dies within STREAM_TOKEN_SECONDS)."""
    return URLSafeTimedSerializer(current_app.config["JWT_SECRET_KEY"], salt=_STREAM_SALT).dumps(principal.id)


def stream_principal(token: str) -> Principal:
    try:
        identity = URLSafeTimedSerializer(current_app.config["JWT_SECRET_KEY"], salt=_STREAM_SALT).loads(
            token, max_age=STREAM_TOKEN_SECONDS)
    except (BadSignature, SignatureExpired):
        raise GatewayError(401, "invalid or expired stream token: ask POST /api/events/token for a new one",
                           ErrorType.AUTHENTICATION_ERROR) from None
    principal = load_principal(str(identity))
    if principal is None:
        raise GatewayError(401, REVOKED, ErrorType.AUTHENTICATION_ERROR)
    return principal


def authorize_session(principal: Principal, session: str) -> None:
    """The second half of the role check: a user or token limited to some WhatsApp sessions gets
    403 on any other (whatever exists: a limited caller cannot probe for session names)."""
    if principal.sessions is not None and session not in principal.sessions:
        raise GatewayError(403, f"{principal.kind} {principal.name!r} may not use the WhatsApp session "
                                f"{session!r}", ErrorType.PERMISSION_DENIED,
                           details={"allowedSessions": list(principal.sessions)})


def grantable_sessions(principal: Principal, requested: list[str] | None) -> list[str] | None:
    """The sessions a user or token made by `principal` may use: never more than its own (a caller
    limited to some sessions cannot mint an unlimited token); omitted, as many as its own."""
    if principal.sessions is None:
        return requested
    if requested is None:
        return list(principal.sessions)
    if beyond := [name for name in requested if name not in principal.sessions]:
        raise GatewayError(403, f"{principal.kind} {principal.name!r} may not grant sessions it may not use: "
                                f"{', '.join(beyond)}", ErrorType.PERMISSION_DENIED)
    return requested


def authorize_grantee(principal: Principal, grantee: User | ApiToken) -> None:
    """Before a user or API token is changed or revoked: a caller limited to some sessions may act
    on it only while it reaches no session beyond the caller's own. So a team's admin cannot
    narrow, revoke or take over another team's token or user, nor an unlimited one (403)."""
    if principal.sessions is None:
        return
    sessions = grantee.allowed_sessions
    beyond = (["every session"] if sessions is None
              else [name for name in sessions if name not in principal.sessions])
    if beyond:
        what = f"user {grantee.email!r}" if isinstance(grantee, User) else f"token {grantee.name!r}"
        raise GatewayError(403, f"{principal.kind} {principal.name!r} may not change {what}: it may use "
                                f"sessions beyond the caller's own ({', '.join(beyond)})",
                           ErrorType.PERMISSION_DENIED)


def _sessions(allowed: list[str] | None) -> tuple[str, ...] | None:
    return None if allowed is None else tuple(allowed)


def user_principal(user: User) -> Principal:
    return Principal(f"user:{user.id}", "user", Role(user.role), user.email, user.id,
                     _sessions(user.allowed_sessions))


log = logging.getLogger(__name__)

# How long a resolved principal is reused from Redis. Changes made through the ORM (the API, the
# CLI) invalidate it at commit; this bounds only edits made behind its back, in plain SQL.
PRINCIPAL_CACHE_SECONDS = 60


def load_principal(identity: str) -> Principal | None:
    """Resolve a token's subject on every request, so deactivation and revocation act at once.

    From the Redis cache when its entry carries the subject's current generation (one MGET), else
    from PostgreSQL. The generation is read before the
    database, so an entry written from a row that changed meanwhile is never trusted."""
    kind, _, raw_id = identity.partition(":")
    try:
        object_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    if kind not in ("user", "token"):
        return None
    cache_key, generation_key = Keys.principal(identity), Keys.principal_generation(identity)
    try:
        cached, generation = get_redis().mget(cache_key, generation_key)
    except redis.RedisError:
        log.warning("principal cache unavailable; reading %s from the database", identity)
        return _principal_from_db(kind, object_id)[0]
    generation = generation or "0"
    if cached:
        entry = json.loads(cached)
        if entry.pop("generation") == generation:
            return Principal(**{**entry, "role": Role(entry["role"]),
                                "user_id": uuid.UUID(entry["user_id"]) if entry["user_id"] else None,
                                "sessions": _sessions(entry.get("sessions"))})
    principal, lifetime = _principal_from_db(kind, object_id)
    if principal is not None and lifetime > 0:
        entry = {**asdict(principal), "user_id": principal.user_id and str(principal.user_id),
                 "generation": generation}
        try:
            get_redis().set(cache_key, json.dumps(entry), ex=lifetime)
        except redis.RedisError:
            log.warning("could not cache the principal %s", identity)
    return principal


def _principal_from_db(kind: str, object_id: uuid.UUID) -> tuple[Principal | None, int]:
    """-> (the principal or None when unknown, deactivated, revoked or expired; seconds it may be cached)."""
    if kind == "user":  # a primary-key lookup of the columns needed
        user = db.execute(select(User.email, User.role, User.active, User.allowed_sessions)
                          .where(User.id == object_id)).first()
        if user is None or not user.active:
            return None, 0
        return (Principal(f"user:{object_id}", kind, Role(user.role), user.email, object_id,
                          _sessions(user.allowed_sessions)), PRINCIPAL_CACHE_SECONDS)
    token = db.get(ApiToken, object_id)
    now = datetime.now(timezone.utc)
    if token is None or not token.is_usable(now):
        return None, 0
    until_expiry = int((token.expires_at - now).total_seconds())
    return (Principal(f"token:{object_id}", kind, Role(token.role), token.name,
                      sessions=_sessions(token.allowed_sessions)), min(PRINCIPAL_CACHE_SECONDS, until_expiry))


def forget_principals(identities: set[str]) -> None:
    """Bump each subject's generation (so no cached entry of it is trusted again) and drop its entry."""
    pipe = get_redis().pipeline()
    for identity in identities:
        pipe.incr(Keys.principal_generation(identity))
        pipe.expire(Keys.principal_generation(identity), 24 * 3600)  # outlives any entry it guards
        pipe.delete(Keys.principal(identity))
    try:
        pipe.execute()
    except redis.RedisError:
        log.exception("could not invalidate cached principals %s; they expire within %d s", sorted(identities),
                      PRINCIPAL_CACHE_SECONDS)


@event.listens_for(Session, "after_flush")
def _forget_changed_principals(session: Session, _flush_context) -> None:
    """Any flushed change to a user or an API token (role, deactivation, revocation, deletion)
    invalidates its cached principal once the transaction commits."""
    changed = {f"{'user' if isinstance(obj, User) else 'token'}:{obj.id}"
               for obj in chain(session.dirty, session.deleted) if isinstance(obj, (User, ApiToken))}
    if changed:
        after_commit(session, lambda: forget_principals(changed))


def init_jwt(jwt: JWTManager) -> None:
    from web.errors import envelope_response

    @jwt.user_lookup_loader
    def _lookup(_header, payload):
        return load_principal(payload["sub"])

    def _unauthorized(message):
        return envelope_response(GatewayError(401, message, ErrorType.AUTHENTICATION_ERROR))

    jwt.user_lookup_error_loader(lambda _h, _p: _unauthorized(REVOKED))
    jwt.unauthorized_loader(lambda reason: _unauthorized(f"missing bearer token: {reason}"))
    jwt.invalid_token_loader(lambda reason: _unauthorized(f"invalid token: {reason}"))
    jwt.expired_token_loader(lambda _h, _p: _unauthorized("token has expired"))
    jwt.revoked_token_loader(lambda _h, _p: _unauthorized("token has been revoked"))
    jwt.needs_fresh_token_loader(lambda _h, _p: _unauthorized("a fresh login is required"))
    jwt.token_verification_failed_loader(lambda _h, _p: _unauthorized("token claims not accepted"))
