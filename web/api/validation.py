"""Phone number validation, extraction from text, and "has WhatsApp?" checks (cached, paced)."""
from __future__ import annotations

import time
import uuid

from flask import current_app
from sqlalchemy import select

from core.db import db, get_or_404
from models import CheckJob, Contact
from services import contacts, existence
from services.phones import check_number, extract_numbers
from services.session_state import read_state
from web.api.blueprint import Blueprint
from web.api.validation_schemas import (MAX_TEXT_BYTES, BatchResultSchema, CheckJobSchema, ExtractedSchema,
                                        ExtractSchema, ValidateBatchSchema, ValidatedNumberSchema,
                                        ValidateNumberSchema)
from web.auth import Capability, current_principal, requires
from web.schemas import body_limit, envelope, ok
from web.session_scope import authorize_row_session, current_session, session_scoped
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("validation", __name__, url_prefix="/api/whatsapp", description="Number validation")
POLL_SECONDS = 0.1


def _settings():
    return current_app.config["SETTINGS"]


def _country(args) -> str:
    return (args.get("country") or _settings().default_country).upper()


def _wait_for_answer(job_id: uuid.UUID, number: str, seconds: float) -> bool | None:
    """Poll the job row until the session answered (then the contact's answer), or None on timeout.
    The job must be committed: the worker reads it from another connection."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, position = db.execute(select(CheckJob.status, CheckJob.position)
                                      .where(CheckJob.id == job_id)).one()
        if position >= 1 or status != "RUNNING":
            return db.scalar(select(Contact.has_whatsapp).where(Contact.phone_number == number))
        db.rollback()  # end the read transaction: the next poll sees the worker's commit
        time.sleep(POLL_SECONDS)
    return None


@blp.route("/validate-number", methods=["POST"])
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(ValidateNumberSchema)
@blp.response(200, envelope(ValidatedNumberSchema))
@blp.alt_response(202, schema=envelope(ValidatedNumberSchema),
                  description="checkWhatsApp: the session did not answer within waitSeconds; poll whatsAppCheck.jobId")
def validate_number(args):
    """Parse and normalise one number; with `checkWhatsApp`, also say whether it is on WhatsApp.

    The answer is cached on the contact (WHATSAPP_CHECK_TTL_HOURS). Otherwise the session is asked
    (paced apart from sends) and the request waits up to `waitSeconds`; past that it answers 202 with
    the job to poll at GET /whatsapp-checks/{jobId}."""
    check = check_number(args["number"], _country(args))
    result = check.as_dict()
    if not check.is_valid:
        return ok(result)
    settings = _settings()
    # a cached answer costs one indexed read and no session call: given even when not asked for
    cached = contacts.cached_existence(db, check.formatted, settings.whatsapp_check_ttl_hours)
    if cached is not None:
        return ok({**result, "hasWhatsApp": cached}, say("check.cached"))
    if not args["checkWhatsApp"]:
        return ok(result)
    job = existence.create_job(db, session_name=current_session(), numbers=[check.formatted],
                               user_id=current_principal().id)
    audit_target(f"check:{job.id}", action="number.check_whatsapp", phoneNumber=check.formatted)
    db.commit()  # the worker must see the job; the wait below must not hold a transaction
    answer = None
    if args["waitSeconds"] > 0 and read_state(current_session())["state"] == "CONNECTED":
        answer = _wait_for_answer(job.id, check.formatted, args["waitSeconds"])
    if answer is not None:
        return ok({**result, "hasWhatsApp": answer}, say("check.answered"))
    pending = {"jobId": job.id, "status": "RUNNING", "pending": 1}
    return ok({**result, "hasWhatsApp": None, "whatsAppCheck": pending},
              say("check.pending")), 202


@blp.route("/validate-batch", methods=["POST"])
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(ValidateBatchSchema)
@blp.response(200, envelope(BatchResultSchema))
def validate_batch(args):
    """Validate up to 10,000 numbers at once (results in input order). With `checkWhatsApp`, cached
    answers come at once and the rest are checked by a paced job (poll GET /whatsapp-checks/{jobId})."""
    country, memo, results = _country(args), {}, []
    for raw in args["numbers"]:
        if raw not in memo:
            memo[raw] = check_number(raw, country).as_dict()
        results.append(memo[raw])
    valid = [r["formatted"] for r in results if r["isValid"]]
    check_ref = None
    if args["checkWhatsApp"] and valid:
        settings = _settings()
        known = existence.answers(db, list(dict.fromkeys(valid)), settings.whatsapp_check_ttl_hours)
        results = [{**r, "hasWhatsApp": known[r["formatted"]].has_whatsapp if r["formatted"] in known else None}
                   for r in results]
        unknown = [n for n in dict.fromkeys(valid) if n not in known]
        if unknown:
            job = existence.create_job(db, session_name=current_session(), numbers=unknown,
                                       user_id=current_principal().id)
            audit_target(f"check:{job.id}", action="number.check_whatsapp_batch", numbers=len(unknown))
            check_ref = {"jobId": job.id, "status": job.status, "pending": len(unknown)}
    return ok({"total": len(results), "valid": len(valid), "invalid": len(results) - len(valid),
               "results": results, "whatsAppCheck": check_ref})


@blp.route("/whatsapp-checks/<uuid:job_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(CheckJobSchema))
def get_check(job_id: uuid.UUID):
    """Progress of a WhatsApp-existence check (single or batch) and the answers so far."""
    job = get_or_404(db, CheckJob, job_id, "WhatsApp check")
    authorize_row_session(job.session)
    return ok(existence.progress(db, job, _settings().whatsapp_check_ttl_hours))


@blp.route("/extract-numbers", methods=["POST"])
@body_limit(6 * MAX_TEXT_BYTES + 64 * 1024)  # 1 MiB of text, even if every character is JSON-escaped
@requires(Capability.VIEW)
@blp.arguments(ExtractSchema)
@blp.response(200, envelope(ExtractedSchema))
def extract(args):
    """Every phone number in free text (up to 1 MiB), with its position and normalised forms,
    each number once (its first occurrence)."""
    found = extract_numbers(args["text"], _country(args))
    return ok({"count": len(found), "numbers": found})
