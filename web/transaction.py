"""The request boundary: commit once (with the audit row) on success, roll back on any error.

Views call `audit_target(...)` to name what they changed; the hook writes the audit row for every
state-changing request. A failed request's work is rolled back, and its audit row is written in a
fresh transaction, so denied and invalid attempts are on record too.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, g, request
from sqlalchemy.exc import OperationalError

from core.db import db, session_has_work
from services import audit
from web.auth import current_principal

log = logging.getLogger(__name__)
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})  # the methods whose body must be JSON
STATE_CHANGING = JSON_METHODS | {"DELETE"}


def audit_target(target: str | None, *, action: str | None = None, **details) -> None:
    store = g._get_current_object()
    store.audit_target = target
    if action:
        store.audit_action = action
    if details:
        store.audit_details = {**store.get("audit_details", {}), **details}


def audit_read(target: str | None, *, action: str, **details) -> None:
    """Audit a read too (an export of someone's personal data), in the same row as a write gets."""
    g.audit_always = True
    audit_target(target, action=action, **details)


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status < 500:
        return "invalid"
    return "error"


def _audit_row(status: int) -> dict:
    """This request's audit row (the values of services.audit.record) for an answer with `status`."""
    store, req = g._get_current_object(), request._get_current_object()
    principal = current_principal()
    return dict(
        action=store.get("audit_action") or (req.endpoint or req.path),
        outcome=_outcome(status),
        actor=principal.id if principal else None,
        actor_name=principal.name if principal else store.get("audit_actor_name"),
        role=principal.role.value if principal else None,
        target=store.get("audit_target") or (str(req.view_args) if req.view_args else None),
        ip=req.remote_addr,
        status_code=status,
        details=store.get("audit_details"),
    )


def _write_audit(status: int) -> None:
    audit.record(db, **_audit_row(status))


def after_boundary(hook: Callable[[Response], Response]) -> None:
    """Run `hook(response)` once this request's work is committed, and answer what it returns (the
    `Prefer: wait` of web/prefer_wait.py waits there: the worker sees the row, no transaction is
    open). Not run when the request fails."""
    g.setdefault("after_boundary", []).append(hook)


def _finish(response):
    req = request._get_current_object()
    audited = (req.method in STATE_CHANGING or g.get("audit_always", False)) and req.endpoint is not None
    if response.status_code < 400:
        if audited:
            _write_audit(response.status_code)
        if session_has_work(db):
            db.commit()
        for hook in g.pop("after_boundary", []):
            response = hook(response)
        return response
    db.rollback()
    if audited:
        try:
            _write_audit(response.status_code)
            db.commit()
        except OperationalError as exc:  # the database is away: one line, not a traceback per request
            log.warning("could not write the audit row of a failed request: %s", str(exc).splitlines()[0])
            db.rollback()
        except Exception:  # the audit of a failure must never hide the failure itself
            log.exception("could not write the audit row of a failed request")
            db.rollback()
    return response


def init_transaction(app: Flask) -> None:
    app.after_request(_finish)
    app.teardown_appcontext(lambda _exc: db.remove())
