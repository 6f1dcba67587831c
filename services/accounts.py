"""Users and API tokens: creation, authentication, issue, the sessions a token may use, revocation."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import get_or_404
from core.errors import GatewayError
from models import ApiToken, User
from models.enums import ErrorType, Role
from services.passwords import hash_password, verify_password

MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, email: str, password: str, role: Role,
                allowed_sessions: list[str] | None = None) -> User:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise GatewayError(422, f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.email == email)):
        raise GatewayError(409, f"a user with email {email} exists already")
    user = User(email=email, password_hash=hash_password(password), role=Role(role).value, active=True,
                allowed_sessions=allowed_sessions)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise GatewayError(422, f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)


def authenticate(session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if not verify_password(user.password_hash if user else None, password) or not user.active:
        raise GatewayError(401, "wrong email or password", ErrorType.AUTHENTICATION_ERROR)
    user.last_login_at = datetime.now(timezone.utc)
    return user


def issue_token(session: Session, name: str, role: Role, days: int, created_by_id: uuid.UUID | None = None,
                allowed_sessions: list[str] | None = None) -> ApiToken:
    if not 1 <= days <= 3650:
        raise GatewayError(422, "days must be between 1 and 3650")
    token = ApiToken(name=name, role=Role(role).value, created_by_id=created_by_id,
                     expires_at=datetime.now(timezone.utc) + timedelta(days=days),
                     allowed_sessions=allowed_sessions)
    session.add(token)
    session.flush()
    return token


def get_token(session: Session, token_id: uuid.UUID) -> ApiToken:
    return get_or_404(session, ApiToken, token_id, "API token")


def set_token_sessions(token: ApiToken, allowed_sessions: list[str] | None) -> ApiToken:
    """Limit a live token to some WhatsApp sessions (None: every one). Its next request sees the
    change: the cached principal is dropped at commit (web.auth)."""
    if token.revoked_at is not None:
        raise GatewayError(409, "the token is revoked: issue a new one")
    token.allowed_sessions = allowed_sessions
    return token


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = datetime.now(timezone.utc)
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))
