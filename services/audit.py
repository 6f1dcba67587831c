"""The audit log: one row for every state-changing request."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import AuditLog


def record(session: Session, *, action: str, outcome: str, actor: str | None = None,
           actor_name: str | None = None, role: str | None = None, target: str | None = None,
           ip: str | None = None, status_code: int | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Insert the row in the caller's transaction (a Core INSERT: every write request pays for it)."""
    session.execute(_INSERT, {"action": action, "outcome": outcome, "actor": actor, "actor_name": actor_name,
                              "role": role, "target": target, "ip": ip, "status_code": status_code,
                              "details": details})


_INSERT = insert(AuditLog.__table__)
