"""Login, token refresh, the caller's profile, and API tokens for service clients."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt_identity
from marshmallow import Schema, fields, validate

from core.db import db
from models import ApiToken
from models.enums import Role
from services import accounts
from web.api.blueprint import Blueprint
from web.auth import Capability, authorize_grantee, current_principal, public, requires, user_principal
from web.ratelimit import rate_limited
from web.schemas import envelope, ok
from web.session_scope import AllowedSessions, granted_sessions
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Authentication and API tokens")


class LoginSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class TokenPairSchema(Schema):
    accessToken = fields.String()
    refreshToken = fields.String()
    tokenType = fields.String()
    expiresIn = fields.Integer(metadata={"description": "access token lifetime in seconds"})
    role = fields.String()


class AccessTokenSchema(Schema):
    accessToken = fields.String()
    tokenType = fields.String()
    expiresIn = fields.Integer()


class MeSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "user or token"})
    role = fields.String()
    name = fields.String()
    allowedSessions = fields.List(fields.String(), attribute="sessions", allow_none=True, metadata={
        "description": "the WhatsApp sessions the caller may use; null: every one"})


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))
    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3650))
    allowed_sessions = AllowedSessions()


class TokenSessionsSchema(Schema):
    allowed_sessions = AllowedSessions(required=True)


class TokenInfoSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    role = fields.String()
    createdAt = fields.DateTime(attribute="created_at")
    expiresAt = fields.DateTime(attribute="expires_at")
    revokedAt = fields.DateTime(attribute="revoked_at", allow_none=True)
    allowedSessions = fields.List(fields.String(), attribute="allowed_sessions", allow_none=True, metadata={
        "description": "the WhatsApp sessions the token may use; null: every one"})


class TokenIssuedSchema(TokenInfoSchema):
    token = fields.String(metadata={"description": "the bearer token; shown only once"})


def _access_lifetime() -> int:
    return int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())


@blp.route("/login", methods=["POST"])
@public
@rate_limited(lambda settings: settings.rate_limit_login)
@blp.doc(security=[])
@blp.alt_response(401, response="UNAUTHORIZED")  # wrong email or password
@blp.arguments(LoginSchema)
@blp.response(200, envelope(TokenPairSchema))
def login(args):
    """Exchange email and password for an access token and a refresh token (role in the claims)."""
    g.audit_actor_name = accounts.normalise_email(args["email"])
    user = accounts.authenticate(db, args["email"], args["password"])
    g.principal = user_principal(user)
    identity = g.principal.id
    audit_target(identity)
    claims = {"role": user.role}
    return ok({
        "accessToken": create_access_token(identity, additional_claims=claims),
        "refreshToken": create_refresh_token(identity, additional_claims=claims),
        "tokenType": "Bearer",
        "expiresIn": _access_lifetime(),
        "role": user.role,
    })


@blp.route("/refresh", methods=["POST"])
@requires(Capability.AUTHENTICATED, refresh=True)
@blp.response(200, envelope(AccessTokenSchema))
def refresh():
    """A new access token from a refresh token (send the refresh token as the bearer)."""
    principal = current_principal()
    token = create_access_token(get_jwt_identity(), additional_claims={"role": principal.role.value})
    return ok({"accessToken": token, "tokenType": "Bearer", "expiresIn": _access_lifetime()})


@blp.route("/me")
@requires(Capability.AUTHENTICATED)
@blp.response(200, envelope(MeSchema))
def me():
    """Who the bearer token belongs to, with the role the server holds now."""
    principal = current_principal()
    return ok({"id": principal.id, "kind": principal.kind, "role": principal.role.value,
               "name": principal.name, "sessions": principal.sessions})


@blp.route("/tokens", methods=["GET"])
@requires(Capability.MANAGE)
@blp.response(200, envelope(TokenInfoSchema, many=True))
def list_tokens():
    """Every API token, newest first (the secret itself is never shown again)."""
    return ok(accounts.list_tokens(db))


@blp.route("/tokens", methods=["POST"])
@requires(Capability.MANAGE)
@blp.arguments(TokenCreateSchema)
@blp.response(201, envelope(TokenIssuedSchema))
def issue_token(args):
    """Issue a long-lived bearer token for a service client, optionally limited to some WhatsApp
    sessions (a CRM that sends from one account cannot send from another)."""
    return ok(issue(args), say("token.issued"))


def issue(args: dict) -> ApiToken:
    """An API token from TokenCreateSchema's output, audited, with its bearer in `.token` (shown
    once, never stored). Also the admin panel's (web/admin/accounts.py)."""
    principal = current_principal()
    token = accounts.issue_token(db, args["name"], Role(args["role"]), args["days"], principal.user_id,
                                 granted_sessions(args.get("allowed_sessions")))
    audit_target(f"token:{token.id}", action="auth.issue_token", name=token.name, role=token.role)
    bearer = create_access_token(
        f"token:{token.id}", additional_claims={"role": token.role},
        expires_delta=token.expires_at - datetime.now(timezone.utc),
    )
    token.token = bearer  # shown in this answer only; never stored
    return token


@blp.route("/tokens/<uuid:token_id>", methods=["PATCH"])
@requires(Capability.MANAGE)
@blp.arguments(TokenSessionsSchema)
@blp.response(200, envelope(TokenInfoSchema))
def update_token(args, token_id: uuid.UUID):
    """Change the WhatsApp sessions an API token may use (`null`: every one), from its next request
    on. The same rules as at issue: only live sessions, never more than the caller's own; and a
    caller itself limited may change only tokens confined to its own sessions. A revoked token is 409."""
    token = accounts.get_token(db, token_id)
    authorize_grantee(current_principal(), token)
    accounts.set_token_sessions(token, granted_sessions(args["allowed_sessions"]))
    audit_target(f"token:{token.id}", allowedSessions=token.allowed_sessions)
    return ok(token, say("token.updated"))


@blp.route("/tokens/<uuid:token_id>", methods=["DELETE"])
@requires(Capability.MANAGE)
@blp.response(200, envelope(TokenInfoSchema))
def revoke_token(token_id: uuid.UUID):
    """Revoke an API token: it is refused from the next request on. A caller limited to some
    sessions may revoke only tokens confined to its own sessions."""
    return ok(revoke(token_id), say("token.revoked"))


def revoke(token_id: uuid.UUID) -> ApiToken:
    """Revoke a token the caller may act on, audited. Also the admin panel's."""
    token = accounts.get_token(db, token_id)
    authorize_grantee(current_principal(), token)
    accounts.revoke_token(token)
    audit_target(f"token:{token.id}", action="auth.revoke_token")
    return token
