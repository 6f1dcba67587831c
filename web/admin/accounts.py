"""Users (SUPER_ADMIN: create, change role, deactivate) and API tokens (issue, shown once, revoke).

The forms are read by the API's own schemas and handed to the API's own functions
(web.api.users, web.api.auth): one implementation of each rule, with the same role table
(users: ADMINISTER, tokens: MANAGE, as /api/users and /api/auth/tokens)."""
from __future__ import annotations

import uuid

from flask import current_app, flash, g, redirect, render_template, request, url_for

from core.db import db
from core.errors import GatewayError
from models.enums import Role
from services import accounts, sessions
from web.admin.blueprint import blp, failure
from web.admin.forms import validated
from web.admin.security import panel_page
from web.api import auth as api_auth
from web.api import users as api_users
from web.auth import Capability
from web.texts import say

ROLES = [role.value for role in Role]
PAGE_SIZE = 50


def _grantable_sessions() -> list[str]:
    """The sessions the form offers to grant: the live ones the SUPER_ADMIN may use itself."""
    names = [row.name for row in sessions.list_sessions(db, current_app.config["SETTINGS"])]
    limit = g.principal.sessions
    return [name for name in names if limit is None or name in limit]


def _chosen_sessions() -> list[str] | None:
    """The form's ticked sessions; none ticked: every session (the API's null)."""
    return request.form.getlist("allowedSessions") or None


def _users_page(status: int = 200, **context):
    args = validated(api_users.UserQuerySchema(), {
        key: value for key, value in (("role", request.args.get("role")), ("active", request.args.get("active")),
                                      ("cursor", request.args.get("cursor")), ("limit", PAGE_SIZE)) if value})
    rows, next_cursor = api_users.user_page(args)
    return render_template("admin/users.html", users=rows, next_cursor=next_cursor, filters=args, roles=ROLES,
                           grantable=_grantable_sessions(), form=context.pop("form", {}), **context), status


@blp.route("/users", methods=["GET"])
@panel_page(Capability.ADMINISTER)
def users_page():
    return _users_page()


@blp.route("/users", methods=["POST"])
@panel_page(Capability.ADMINISTER)
def create_user():
    form = {"email": request.form.get("email", ""), "role": request.form.get("role", "")}
    try:
        args = validated(api_users.UserCreateSchema(), {**form, "password": request.form.get("password", ""),
                                                         "allowedSessions": _chosen_sessions()})
        user = api_users.create(args)
    except GatewayError as error:  # shown above the form, which keeps what was typed (not the password)
        return _users_page(error.status, form=form, error=failure(error))
    flash(say("Utente {email} creato con ruolo {role}", email=user.email, role=user.role), "ok")
    return redirect(url_for("admin.users_page"))


@blp.route("/users/<uuid:user_id>", methods=["POST"])
@panel_page(Capability.ADMINISTER)
def change_user(user_id: uuid.UUID):
    """One change per form: the role (`role`) or deactivate / reactivate (`active`)."""
    data = {key: request.form[key] for key in ("role", "active") if key in request.form}
    user = api_users.change(user_id, validated(api_users.UserUpdateSchema(), data))
    flash(say("Utente {email} aggiornato: ruolo {role}, {state}", email=user.email, role=user.role,
              state=say("attivo") if user.active else say("disattivato")), "ok")
    return redirect(url_for("admin.users_page"))


def _tokens_page(status: int = 200, **context):
    return render_template("admin/tokens.html", tokens=accounts.list_tokens(db), roles=ROLES,
                           grantable=_grantable_sessions(), form=context.pop("form", {}), **context), status


@blp.route("/tokens", methods=["GET"])
@panel_page(Capability.MANAGE)
def tokens_page():
    return _tokens_page()


@blp.route("/tokens", methods=["POST"])
@panel_page(Capability.MANAGE)
def issue_token():
    """The bearer is in this answer only (never stored, never shown again): the page is rendered,
    not redirected to."""
    form = {key: request.form.get(key, "") for key in ("name", "role", "days")}
    try:
        token = api_auth.issue(validated(api_auth.TokenCreateSchema(), {
            **{key: value for key, value in form.items() if value}, "allowedSessions": _chosen_sessions()}))
    except GatewayError as error:
        return _tokens_page(error.status, form=form, error=failure(error))
    return _tokens_page(201, issued=token)


@blp.route("/tokens/<uuid:token_id>/revoke", methods=["POST"])
@panel_page(Capability.MANAGE)
def revoke_token(token_id: uuid.UUID):
    token = api_auth.revoke(token_id)
    flash(say("Token {name} revocato", name=token.name), "ok")
    return redirect(url_for("admin.tokens_page"))
