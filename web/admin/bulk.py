"""Bulk sends (ADMIN and up): numbers pasted or from a CSV, the invalid ones shown before anything
is queued, then the job's live progress bar and its cancel. services.bulk, as /send-bulk and /jobs."""
from __future__ import annotations

import csv
import io
import re
import uuid

from flask import current_app, flash, g, redirect, render_template, request, url_for

from core.db import db, get_or_404
from core.errors import GatewayError
from models import BulkJob
from models.enums import ErrorType
from services import bulk, messages
from web.admin.blueprint import blp, failure, panel_session, visible_sessions
from web.admin.security import panel_page
from web.auth import Capability
from web.session_scope import authorize_row_session
from web.texts import say
from web.transaction import audit_target

SEPARATORS = re.compile(r"[\n;,\t]+")


def _numbers() -> list[str]:
    """The pasted numbers (one per line, or separated by commas or semicolons) then the CSV's first
    column (a header that is not a number is reported as invalid, as any other cell)."""
    numbers = [n.strip() for n in SEPARATORS.split(request.form.get("numbers", "")) if n.strip()]
    upload = request.files.get("csv")
    if upload and upload.filename:
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GatewayError(422, "the CSV is not UTF-8 text", ErrorType.VALIDATION_ERROR) from None
        try:
            dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t")
        except csv.Error:  # one column: no delimiter to find
            dialect = csv.excel
        numbers += [row[0].strip() for row in csv.reader(io.StringIO(text), dialect) if row and row[0].strip()]
    return numbers


@blp.route("/bulk", methods=["GET"])
@panel_page(Capability.BULK)
def bulk_page():
    session = panel_session()
    return render_template("admin/bulk.html", session=session, sessions=visible_sessions(), form={})


@blp.route("/bulk", methods=["POST"])
@panel_page(Capability.BULK)
def bulk_send():
    """`action=check`: list the valid and invalid numbers, queue nothing; `action=send`: the job."""
    session = panel_session()
    country = current_app.config["SETTINGS"].default_country
    form = {"message": request.form.get("message", "")}
    try:
        numbers = _numbers()
        if not numbers:
            raise GatewayError(422, "no numbers: paste some or upload a CSV", ErrorType.VALIDATION_ERROR)
        if len(numbers) > bulk.MAX_RECIPIENTS:
            raise GatewayError(422, f"at most {bulk.MAX_RECIPIENTS} recipients per job", ErrorType.VALIDATION_ERROR)
        form["numbers"] = "\n".join(numbers)
        if request.form.get("action") != "send":
            valid, invalid = bulk.split_recipients(numbers, country)
            return render_template("admin/bulk.html", session=session, sessions=visible_sessions(), form=form,
                                   checked={"valid": valid, "invalid": invalid})
        text = messages.sanitise_text(form["message"])
        job, valid, invalid = bulk.create_job(db, session_name=session, recipients=numbers, body=text,
                                              country=country, user_id=g.principal.id)
    except GatewayError as error:  # shown in the form, which keeps what was typed
        return render_template("admin/bulk.html", session=session, sessions=visible_sessions(), form=form,
                               error=failure(error)), error.status
    audit_target(f"job:{job.id}", action="message.send_bulk", queued=len(valid), invalid=len(invalid))
    flash(say("{queued} messaggi in coda, {invalid} numeri scartati", queued=len(valid), invalid=len(invalid)), "ok")
    return redirect(url_for("admin.job_page", job_id=job.id))


def _job(job_id: uuid.UUID) -> BulkJob:
    job = get_or_404(db, BulkJob, job_id, "job")
    authorize_row_session(job.session)
    return job


@blp.route("/jobs/<uuid:job_id>", methods=["GET"])
@panel_page(Capability.VIEW)
def job_page(job_id: uuid.UUID):
    job = _job(job_id)
    return render_template("admin/job.html", job=job, progress=bulk.progress(db, job))


@blp.route("/jobs/<uuid:job_id>/progress", methods=["GET"])
@panel_page(Capability.VIEW)
def job_progress(job_id: uuid.UUID):
    """The live part of a job's page (its progress bar and counts), polled."""
    job = _job(job_id)
    return render_template("admin/_job_progress.html", job=job, progress=bulk.progress(db, job))


@blp.route("/jobs/<uuid:job_id>/cancel", methods=["POST"])
@panel_page(Capability.BULK)
def cancel_job(job_id: uuid.UUID):
    """Stop what is not yet sent (as POST /api/whatsapp/jobs/{id}/cancel)."""
    job = _job(job_id)
    stopped = bulk.cancel(db, job)
    audit_target(f"job:{job.id}", action="job.cancel", stopped=stopped)
    flash(say("job.cancelled", stopped=stopped), "ok")
    return redirect(url_for("admin.job_page", job_id=job.id))

