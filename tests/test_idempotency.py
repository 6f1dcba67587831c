"""Idempotency keys against the real database: a claim whose request died does not block for a day."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from core.errors import GatewayError
from models import IdempotencyKey
from services import idempotency


def _expires_at(db, scope: str) -> datetime:
    db.expire_all()
    return db.scalar(select(IdempotencyKey.expires_at).where(IdempotencyKey.scope == scope))


def test_a_claim_left_by_a_request_that_died_frees_its_key_after_the_lease(committed_db):
    scope = f"user:{uuid.uuid4()}"
    assert idempotency.claim(scope, "order-1", "fingerprint") is None
    # the request died without releasing it (the database was away when it tried): 409 meanwhile
    with pytest.raises(GatewayError) as refused:
        idempotency.claim(scope, "order-1", "fingerprint")
    assert refused.value.status == 409 and refused.value.retry is True
    assert _expires_at(committed_db, scope) <= datetime.now(timezone.utc) + idempotency.IN_PROGRESS_LEASE

    committed_db.execute(update(IdempotencyKey).where(IdempotencyKey.scope == scope)
                         .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))  # the lease ran out
    committed_db.commit()
    assert idempotency.claim(scope, "order-1", "fingerprint") is None  # the client's retry goes through


def test_an_answered_key_is_kept_for_its_lifetime_and_replayed(committed_db):
    scope = f"user:{uuid.uuid4()}"
    assert idempotency.claim(scope, "order-2", "fingerprint") is None
    idempotency.complete(committed_db, scope, "order-2", 202, {"success": True})
    committed_db.commit()

    assert _expires_at(committed_db, scope) >= datetime.now(timezone.utc) + idempotency.LIFETIME - timedelta(minutes=1)
    replay = idempotency.claim(scope, "order-2", "fingerprint")
    assert replay is not None and (replay.status, replay.body) == (202, {"success": True})
