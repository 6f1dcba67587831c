"""`Idempotency-Key` (IETF httpapi draft semantics), scoped to the caller, kept 24 hours.

The key is claimed in its own committed transaction, so a concurrent retry sees it at once and gets
409 while the first request is still running. The answer is stored in the request's transaction,
so it is durable exactly when the work is. A request that fails releases its key; one that could
not (the database away when it tried, its process killed) holds it only for IN_PROGRESS_LEASE.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.db import get_engine
from core.errors import GatewayError
from models import IdempotencyKey
from models.enums import ErrorType

LIFETIME = timedelta(hours=24)
# How long a claim without an answer blocks its key: longer than any request runs (gunicorn kills
# a worker stuck for 30 s), short enough that a client retrying after a 503 gets through.
IN_PROGRESS_LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


def request_fingerprint(method: str, path: str, payload) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(scope: str, key: str, fingerprint: str) -> Replay | None:
    """Claim `key` for this request; a Replay when it was answered already. Raises 409 or 422."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise GatewayError(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    now = datetime.now(timezone.utc)
    with get_engine().begin() as conn:
        conn.execute(delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.expires_at <= now))
        inserted = conn.execute(
            pg_insert(IdempotencyKey)
            .values(scope=scope, key=key, request_hash=fingerprint, created_at=now,
                    expires_at=now + IN_PROGRESS_LEASE)
            .on_conflict_do_nothing(constraint="uq_idempotency_keys_scope_key")
            .returning(IdempotencyKey.id)
        ).first()
        if inserted:
            return None
        existing = conn.execute(select(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key)).one()
    if existing.request_hash != fingerprint:
        raise GatewayError(422, "this Idempotency-Key was used with a different request body",
                           ErrorType.VALIDATION_ERROR, details={"idempotencyKey": key})
    if existing.response_status is None:
        raise GatewayError(409, "a request with this Idempotency-Key is still being processed",
                           ErrorType.CONFLICT, details={"idempotencyKey": key}, retry=True)
    return Replay(existing.response_status, existing.response_body)


def complete(session: Session, scope: str, key: str, status: int, body: dict) -> None:
    """Store the answer in the caller's transaction: it becomes visible when the work commits, and
    from then on the key is kept for LIFETIME."""
    session.execute(update(IdempotencyKey)
                    .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                    .values(response_status=status, response_body=body,
                            expires_at=datetime.now(timezone.utc) + LIFETIME))


def release(scope: str, key: str) -> None:
    """Forget a claimed key whose request failed, so the client may retry with the same key."""
    with get_engine().begin() as conn:
        conn.execute(delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.response_status.is_(None)))


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= datetime.now(timezone.utc)))
    return result.rowcount


