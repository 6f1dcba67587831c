"""Users (people who log in), managed by SUPER_ADMIN."""
from __future__ import annotations

import uuid

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import User
from models.enums import Role
from services import accounts
from web.api.blueprint import Blueprint
from web.auth import Capability, authorize_grantee, current_principal, requires
from web.schemas import PageArgs, envelope, ok, page_envelope
from web.pagination import page
from web.session_scope import AllowedSessions, granted_sessions
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("users", __name__, url_prefix="/api/users", description="Users and their roles")

ROLES = [r.value for r in Role]


class UserSchema(Schema):
    id = fields.UUID()
    email = fields.String()
    role = fields.String()
    active = fields.Boolean()
    allowedSessions = fields.List(fields.String(), attribute="allowed_sessions", allow_none=True, metadata={
        "description": "the WhatsApp sessions the user may use; null: every one"})
    createdAt = fields.DateTime(attribute="created_at")
    lastLoginAt = fields.DateTime(attribute="last_login_at", allow_none=True)


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=accounts.MIN_PASSWORD_LENGTH, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    allowed_sessions = AllowedSessions()


class UserUpdateSchema(Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    password = fields.String(load_only=True, validate=validate.Length(min=accounts.MIN_PASSWORD_LENGTH, max=1024))
    allowed_sessions = AllowedSessions()


class UserQuerySchema(PageArgs):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()



@blp.route("")
@requires(Capability.ADMINISTER)
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, page_envelope(UserSchema))
def list_users(args):
    """Users newest first, filtered by role and active flag."""
    rows, next_cursor = user_page(args)
    return {**ok(rows), "nextCursor": next_cursor}


@blp.route("", methods=["POST"])
@requires(Capability.ADMINISTER)
@blp.arguments(UserCreateSchema)
@blp.response(201, envelope(UserSchema))
def create_user(args):
    """Create a user with a role (the password is hashed with Argon2id), optionally limited to some
    WhatsApp sessions."""
    return ok(create(args), say("user.created"))


@blp.route("/<uuid:user_id>", methods=["PATCH"])
@requires(Capability.ADMINISTER)
@blp.arguments(UserUpdateSchema)
@blp.response(200, envelope(UserSchema))
def update_user(args, user_id: uuid.UUID):
    """Change a user's role or the WhatsApp sessions they may use (null: every one), deactivate or
    reactivate them, or set a new password. Takes effect on their very next request (tokens are
    checked against the user on every call). A caller limited to some sessions may change only
    users confined to its own sessions."""
    return ok(change(user_id, args), say("user.updated"))


# The work of the views above, also called by the admin panel's Users page (web/admin/accounts.py)
# with the same schemas' output: one implementation of each rule.

def user_page(args: dict) -> tuple[list[User], str | None]:
    """A page of users (UserQuerySchema's arguments) and the next page's cursor."""
    query = select(User)
    if args.get("role"):
        query = query.where(User.role == args["role"])
    if "active" in args:
        query = query.where(User.active == args["active"])
    return page(query, User.created_at, User.id, args["limit"], args["cursor"], db)


def create(args: dict) -> User:
    """A new user from UserCreateSchema's output, audited."""
    allowed = granted_sessions(args.get("allowed_sessions"))
    user = accounts.create_user(db, args["email"], args["password"], Role(args["role"]), allowed)
    audit_target(f"user:{user.id}", action="user.create", role=user.role)
    return user


def change(user_id: uuid.UUID, args: dict) -> User:
    """UserUpdateSchema's changes applied to a user, audited; nobody demotes or deactivates themself."""
    user = get_or_404(db, User, user_id, "user")
    authorize_grantee(current_principal(), user)
    if user.id == current_principal().user_id and (args.get("active") is False or
                                                   args.get("role", Role.SUPER_ADMIN.value) != Role.SUPER_ADMIN.value):
        raise GatewayError(409, "you cannot demote or deactivate yourself")
    if "role" in args:
        user.role = args["role"]
    if "active" in args:
        user.active = args["active"]
    if "password" in args:
        accounts.set_password(user, args["password"])
    if "allowed_sessions" in args:
        user.allowed_sessions = granted_sessions(args["allowed_sessions"])
    audit_target(f"user:{user.id}", action="user.update", changed=sorted(args))
    return user
