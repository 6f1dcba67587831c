"""Log in with the API's users and passwords (kept in the panel's session cookie), log out."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from core.db import db
from core.errors import GatewayError
from services import accounts
from web.admin.blueprint import blp
from web.admin.security import log_in, log_out, panel_page, safe_next
from web.api.auth import LoginSchema
from web.auth import Capability, public, user_principal
from web.ratelimit import rate_limited
from web.transaction import audit_target


@blp.route("/login", methods=["GET"])
@public
def login_form():
    return render_template("admin/login.html", next=safe_next(request.args.get("next")))


@blp.route("/login", methods=["POST"])
@public
@rate_limited(lambda settings: settings.rate_limit_login)
def login():
    """The API's users and passwords (services.accounts.authenticate), kept in the session cookie."""
    target = safe_next(request.form.get("next"))
    try:
        args = LoginSchema().load({"email": request.form.get("email", ""),
                                   "password": request.form.get("password", "")})
    except ValidationError:
        return render_template("admin/login.html", next=target, failed=True), 422
    g.audit_actor_name = accounts.normalise_email(args["email"])
    try:
        user = accounts.authenticate(db, args["email"], args["password"])
    except GatewayError as error:
        return render_template("admin/login.html", next=target, failed=True), error.status
    g.principal = user_principal(user)
    audit_target(g.principal.id, action="admin.login")
    log_in(g.principal)
    return redirect(target)


@blp.route("/logout", methods=["POST"])
@panel_page(Capability.AUTHENTICATED)
def logout():
    audit_target(g.principal.id, action="admin.logout")
    log_out()
    return redirect(url_for("admin.login_form"))


@blp.route("/", methods=["GET"])
@panel_page(Capability.VIEW)
def index():
    return redirect(url_for("admin.connection_page"))
