"""Bulk job progress and cancellation."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from core.db import db, get_or_404
from models import BulkJob, Message
from services import bulk
from web.api.blueprint import Blueprint
from web.api.messages_schemas import JobDetailSchema, JobQuerySchema, JobSchema
from web.auth import Capability, requires
from web.pagination import page
from web.schemas import envelope, ok, page_envelope
from web.session_scope import authorize_row_session
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("jobs", __name__, url_prefix="/api/whatsapp/jobs", description="Bulk job progress")


@blp.route("/<uuid:job_id>")
@requires(Capability.VIEW)
@blp.arguments(JobQuerySchema, location="query")
@blp.response(200, page_envelope(JobDetailSchema, many=False))
def get_job(args, job_id: uuid.UUID):
    """Progress: total, queued, sent, delivered, read, failed (by error type) and invalid numbers;
    and a page of the recipients with each one's outcome (`?status=` to see only e.g. the SENT or
    FAILED ones; pass `nextCursor` as `cursor` for the next page)."""
    job = get_or_404(db, BulkJob, job_id, "job")
    authorize_row_session(job.session)
    query = select(Message).where(Message.bulk_job_id == job.id)
    if args.get("status"):
        query = query.where(Message.status == args["status"])
    rows, next_cursor = page(query, Message.created_at, Message.id, args["limit"], args["cursor"], db)
    return {**ok({**bulk.progress(db, job), "recipients": rows}), "nextCursor": next_cursor}


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
    return ok(bulk.progress(db, job), say("job.cancelled", stopped=stopped))
