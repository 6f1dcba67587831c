"""Bulk job progress and cancellation."""
from __future__ import annotations

import uuid

from core.db import db, get_or_404
from models import BulkJob
from services import bulk
from web.api.blueprint import Blueprint
from web.api.messages_schemas import JobSchema
from web.auth import Capability, requires
from web.schemas import envelope, ok
from web.session_scope import authorize_row_session
from web.transaction import audit_target

blp = Blueprint("jobs", __name__, url_prefix="/api/whatsapp/jobs", description="Bulk job progress")


@blp.route("/<uuid:job_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(JobSchema))
def get_job(job_id: uuid.UUID):
    """Progress: total, queued, sent, delivered, read, failed (by error type) and invalid numbers."""
    job = get_or_404(db, BulkJob, job_id, "job")
    authorize_row_session(job.session)
    return ok(bulk.progress(db, job))


@blp.route("/<uuid:job_id>/cancel", methods=["POST"])
@requires(Capability.BULK)
@blp.response(200, envelope(JobSchema))
def cancel_job(job_id: uuid.UUID):
    """Stop every message of the job not yet sent (they end FAILED with errorType CANCELLED)."""
    job = get_or_404(db, BulkJob, job_id, "job")
    authorize_row_session(job.session)
    stopped = bulk.cancel(db, job)
    audit_target(f"job:{job.id}", action="job.cancel", stopped=stopped)
    db.flush()
    return ok(bulk.progress(db, job), f"{stopped} messages cancelled")
