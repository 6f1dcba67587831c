"""`flask --app web users create ...`, `flask --app web tokens issue|set-sessions ...`,
`flask --app web whatsapp qr` and `flask --app web privacy erase NUMBER`."""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import click
import qrcode
from flask import Flask
from flask.cli import AppGroup
from flask_jwt_extended import create_access_token

from core.db import db
from core.errors import GatewayError
from models.enums import Role
from services import accounts, sessions

ROLE_CHOICE = click.Choice([r.value for r in Role], case_sensitive=False)
SESSIONS_OPTION = click.option("--session", "allowed", multiple=True, metavar="NAME",
                               help="limit it to this WhatsApp session (repeat for more); default: all")


def register_cli(app: Flask) -> None:
    users = AppGroup("users", help="Manage users.")
    tokens = AppGroup("tokens", help="Manage API tokens for service clients.")

    @users.command("create")
    @click.argument("email")
    @click.option("--role", type=ROLE_CHOICE, required=True)
    @click.option("--password-env", metavar="VAR",
                  help="read the password from this environment variable instead of a prompt")
    @SESSIONS_OPTION
    def create_user(email: str, role: str, password_env: str | None, allowed: tuple[str, ...]):
        """Create a user; the password is prompted (hidden) unless --password-env names a variable."""
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise click.UsageError(f"environment variable {password_env} is empty or not set")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = accounts.create_user(db, email, password, Role(role.upper()), _allowed(allowed))
            db.commit()
        except GatewayError as exc:
            db.rollback()
            raise click.ClickException(exc.message) from None
        click.echo(f"created {user.email} with role {user.role} (id {user.id})")

    @tokens.command("issue")
    @click.argument("name")
    @click.option("--role", type=ROLE_CHOICE, required=True)
    @click.option("--days", type=int, default=90, show_default=True)
    @SESSIONS_OPTION
    def issue_token(name: str, role: str, days: int, allowed: tuple[str, ...]):
        """Issue an API token and print it once."""
        try:
            token = accounts.issue_token(db, name, Role(role.upper()), days,
                                         allowed_sessions=_allowed(allowed))
            db.commit()
        except GatewayError as exc:
            db.rollback()
            raise click.ClickException(exc.message) from None
        bearer = create_access_token(f"token:{token.id}", additional_claims={"role": token.role},
                                     expires_delta=token.expires_at - datetime.now(timezone.utc))
        click.echo(f"token {token.id} for {name} ({token.role}), expires {token.expires_at:%Y-%m-%d}:")
        click.echo(bearer)

    @tokens.command("set-sessions")
    @click.argument("token_id", type=click.UUID)
    @click.option("--session", "allowed", multiple=True, metavar="NAME",
                  help="the WhatsApp session it may use (repeat for more)")
    @click.option("--all", "every", is_flag=True, help="let it use every session")
    def set_token_sessions(token_id, allowed: tuple[str, ...], every: bool):
        """Change the WhatsApp sessions an API token may use, from its next request on."""
        if bool(allowed) == every:  # never widen a token to every session by leaving the option out
            raise click.UsageError("give either --session NAME (repeatable) or --all")
        try:
            token = accounts.set_token_sessions(accounts.get_token(db, token_id), _allowed(allowed))
            db.commit()
        except GatewayError as exc:
            db.rollback()
            raise click.ClickException(exc.message) from None
        click.echo(f"token {token.id} ({token.name}) may use "
                   f"{', '.join(token.allowed_sessions) if token.allowed_sessions else 'every session'}")

    whatsapp = AppGroup("whatsapp", help="The WhatsApp session.")

    @whatsapp.command("qr")
    @click.option("--session", metavar="NAME", help="the WhatsApp session; default: SESSION_NAME")
    def print_qr(session: str | None):
        """Print the current QR in the terminal: scan it from WhatsApp > Linked devices."""
        from services.session_state import read_state

        state = read_state(session or app.config["SETTINGS"].session_name)
        if state["state"] == "CONNECTED":
            raise click.ClickException(f"session {state['session']} is already connected ({state['phone']})")
        if not state["qr"]:
            raise click.ClickException(f"no QR yet: the session is {state['state']} "
                                       "(is the worker running? POST /api/whatsapp/initialize)")
        code = qrcode.QRCode(border=2)
        code.add_data(state["qr"])
        code.print_ascii(out=sys.stdout, invert=True)
        click.echo(f"session {state['session']}: scan within 20 seconds; run again for a fresh code")

    privacy_group = AppGroup("privacy", help="Personal data (GDPR).")

    @privacy_group.command("erase")
    @click.argument("number")
    @click.option("--yes", is_flag=True, help="do not ask for confirmation")
    def erase_person(number: str, yes: bool):
        """Erase everything held about NUMBER (as POST /api/privacy/erasure), audited as the CLI."""
        from services import audit, privacy
        from services.phones import check_number

        settings = app.config["SETTINGS"]
        phone = check_number(number, settings.default_country)
        if not phone.is_valid:
            raise click.ClickException(f"{number!r} is not a phone number: {phone.error}")
        if not yes:
            click.confirm(f"Erase every message, media file and mention of {phone.formatted}?", abort=True)
        report = privacy.erase(db, phone.formatted, settings)
        hashed = privacy.number_hash(phone.formatted, settings)
        audit.record(db, action="privacy.erasure", outcome="success", actor="cli", actor_name="cli",
                     target=f"person:{hashed}", details={"erased": report})
        db.commit()
        click.echo(f"erased {phone.formatted} (audited as person:{hashed}): "
                   + ", ".join(f"{kind} {count}" for kind, count in report.items()))

    def _allowed(names: tuple[str, ...]) -> list[str] | None:
        return sessions.allowed_list(db, names, app.config["SETTINGS"]) if names else None

    app.cli.add_command(users)
    app.cli.add_command(whatsapp)
    app.cli.add_command(tokens)
    app.cli.add_command(privacy_group)
