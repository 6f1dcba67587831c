"""Scheduled messages and campaigns: one-off (`sendAt`) or recurring (`cron` in a time zone).

Beat sends them when due (tasks/scheduling.py); each run becomes ordinary pipeline messages.
One recipient needs the right to send, several the right to run campaigns.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import ScheduledMessage
from models.enums import ErrorType
from services import bulk, guard_rails, optout, scheduling
from web.api.blueprint import Blueprint
from web.api.messages import bulk_warnings, valid_phone
from web.api.scheduled_schemas import (ScheduleAcceptedSchema, ScheduleDetailSchema, ScheduleInputSchema,
                                       SchedulePageSchema, SchedulePatchSchema, ScheduleQuerySchema,
                                       ScheduleSchema)
from web.auth import Capability, allowed, current_principal, requires
from web.pagination import page
from web.schemas import envelope, ok
from web.session_scope import authorize_row_session, current_session, session_scoped
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("scheduled", __name__, url_prefix="/api/whatsapp/scheduled",
                description="Scheduled messages and campaigns")

_KEYS = {"recipients": "recipients", "message": "body", "templateId": "template_id", "variables": "variables",
         "mediaId": "media_id", "sendAt": "send_at", "cron": "cron", "timezone": "timezone", "endAt": "end_at", "maxRuns": "max_runs"}


def schedule_values(args: dict) -> dict:
    """API fields -> column values; recipients normalised to E.164 digits (422 on an invalid one)."""
    country = current_app.config["SETTINGS"].default_country
    values = {column: args.get(key) for key, column in _KEYS.items()}
    if args.get("phoneNumber"):
        values["recipients"] = [valid_phone(args["phoneNumber"]).formatted]
    else:
        valid, invalid = bulk.split_recipients(args["recipients"], country)
        if invalid:
            raise GatewayError(422, f"{len(invalid)} recipients are not valid numbers", ErrorType.INVALID_NUMBER,
                               details={"recipients": invalid})
        values["recipients"] = [phone.formatted for phone in valid]
    if len(values["recipients"]) > 1 and not allowed(current_principal().role, Capability.BULK):
        raise GatewayError(403, f"role {current_principal().role} may not: {Capability.BULK.value}",
                           ErrorType.PERMISSION_DENIED)
    values["variables"] = values["variables"] or {}
    values["timezone"] = values["timezone"] or current_app.config["SETTINGS"].timezone
    return values


def _as_args(schedule: ScheduledMessage) -> dict:
    """The schedule's current definition in API fields (the base a PATCH applies to)."""
    current = scheduling.current_values(schedule)
    args = {key: current[column] for key, column in _KEYS.items() if current[column] not in (None, {}, [])}
    if len(schedule.recipients) == 1:
        args["phoneNumber"] = "+" + args.pop("recipients")[0]
    return args


def guard_campaign(schedule: ScheduledMessage, spread: bool) -> ScheduledMessage:
    """A campaign's next run checked as a bulk is (services/guard_rails.py): its estimate, a 422
    above that day's cap unless `spread`, and the new-numbers warning. Opted-out recipients, whom
    the run will skip, are not counted."""
    schedule.estimate, schedule.warnings = None, []
    if len(schedule.recipients) > 1 and schedule.next_run_at is not None:
        out = optout.opted_out(db, schedule.recipients)
        sent_to = [number for number in schedule.recipients if number not in out]
        schedule.estimate = guard_rails.accept_campaign(db, schedule.session, len(sent_to),
                                                        schedule.next_run_at, current_app.config["SETTINGS"],
                                                        spread=spread)
        schedule.warnings = bulk_warnings(schedule.session, sent_to)
    return schedule


@blp.route("", methods=["POST"])
@requires(Capability.SEND)
@session_scoped(blp)
@blp.arguments(ScheduleInputSchema)
@blp.response(201, envelope(ScheduleAcceptedSchema))
def create_schedule(args):
    """Schedule a message (one recipient) or a campaign (several recipients, ADMIN). A campaign's
    answer has the estimate of its next run; above that day's cap it is refused (422) unless
    `spread`."""
    created = scheduling.create(db, session_name=current_session(), user_id=current_principal().id,
                                **schedule_values(args))
    schedule = guard_campaign(created, args.get("spread", False))
    audit_target(f"schedule:{schedule.id}", action="schedule.create", recipients=len(schedule.recipients),
                 recurring=bool(schedule.cron), **({"spread": True} if args.get("spread") else {}))
    return ok(schedule, say("scheduled.created", at=schedule.next_run_at.isoformat()))


@blp.route("")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(ScheduleQuerySchema, location="query")
@blp.response(200, SchedulePageSchema)
def list_schedules(args):
    """The session's schedules newest first, filtered by status, next run time (`from`, `to`) and
    recipient."""
    rows, next_cursor = page(schedule_query(current_session(), args), ScheduledMessage.created_at,
                             ScheduledMessage.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


def schedule_query(session: str, args: dict):
    """The session's schedules matching ScheduleQuerySchema's filters (the API's list and the panel's)."""
    query = select(ScheduledMessage).where(ScheduledMessage.session == session)
    if args.get("status"):
        query = query.where(ScheduledMessage.status == args["status"])
    if args.get("since"):
        query = query.where(ScheduledMessage.next_run_at >= args["since"])
    if args.get("until"):
        query = query.where(ScheduledMessage.next_run_at < args["until"])
    if args.get("recipient"):
        query = query.where(ScheduledMessage.recipients.contains([valid_phone(args["recipient"], "recipient").formatted]))
    return query


@blp.route("/<uuid:schedule_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(ScheduleDetailSchema))
def get_schedule(schedule_id: uuid.UUID):
    """One schedule with its past runs (sent or skipped, with why) and the messages each queued."""
    schedule = get_or_404(db, ScheduledMessage, schedule_id, "scheduled message")
    authorize_row_session(schedule.session)
    schedule.runs = scheduling.runs_of(db, schedule)
    return ok(schedule)


# a PATCH field replaces the fields it excludes (recipients <-> phoneNumber, message <-> templateId...)
_EXCLUDES = {"phoneNumber": ("recipients",), "recipients": ("phoneNumber",), "message": ("templateId", "variables"),
             "templateId": ("message",), "sendAt": ("cron", "timezone", "endAt", "maxRuns"), "cron": ("sendAt",)}


def _merged(schedule: ScheduledMessage, changes: dict) -> dict:
    """The schedule's definition with `changes` applied, validated as a whole (422 if incoherent)."""
    merged = _as_args(schedule)
    for key in changes:
        for excluded in _EXCLUDES.get(key, ()):
            merged.pop(excluded, None)
    merged.update(changes)
    try:
        return ScheduleInputSchema().load(_jsonable(merged))
    except ValidationError as exc:
        raise GatewayError(422, "the schedule after this change is not valid", ErrorType.VALIDATION_ERROR,
                           details=exc.messages) from None


def _jsonable(args: dict) -> dict:
    return {key: value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, uuid.UUID)
            else value for key, value in args.items()}


def _change(schedule_id: uuid.UUID, args: dict, partial: bool):
    schedule = scheduling.lock_for_change(db, schedule_id)
    authorize_row_session(schedule.session)
    scheduling.update(db, schedule, schedule_values(_merged(schedule, args) if partial else args))
    guard_campaign(schedule, args.get("spread", False))
    audit_target(f"schedule:{schedule.id}", action="schedule.update")
    return ok(schedule, say("scheduled.updated", at=schedule.next_run_at.isoformat()))


@blp.route("/<uuid:schedule_id>", methods=["PUT"])
@requires(Capability.SEND)
@blp.arguments(ScheduleInputSchema)
@blp.response(200, envelope(ScheduleAcceptedSchema))
def replace_schedule(args, schedule_id: uuid.UUID):
    """Replace the whole schedule; 409 once it is due, sent or cancelled."""
    return _change(schedule_id, args, partial=False)


@blp.route("/<uuid:schedule_id>", methods=["PATCH"])
@requires(Capability.SEND)
@blp.arguments(SchedulePatchSchema)
@blp.response(200, envelope(ScheduleAcceptedSchema))
def patch_schedule(args, schedule_id: uuid.UUID):
    """Change some fields (the rest stay); 409 once it is due, sent or cancelled."""
    return _change(schedule_id, args, partial=True)


@blp.route("/<uuid:schedule_id>/cancel", methods=["POST"])
@requires(Capability.SEND)
@blp.response(200, envelope(ScheduleSchema))
def cancel_schedule(schedule_id: uuid.UUID):
    """Stop the schedule: no further run (messages already queued by past runs go on)."""
    return ok(cancel_checked(schedule_id), say("scheduled.cancelled"))


def cancel_checked(schedule_id: uuid.UUID) -> ScheduledMessage:
    """Cancel for the caller: its session's schedules only, a campaign only with the right to run them."""
    schedule = db.get(ScheduledMessage, schedule_id)
    if schedule is not None:
        authorize_row_session(schedule.session)
    if schedule is not None and len(schedule.recipients) > 1 and not allowed(current_principal().role,
                                                                             Capability.BULK):
        raise GatewayError(403, f"role {current_principal().role} may not: {Capability.BULK.value}",
                           ErrorType.PERMISSION_DENIED)
    schedule = scheduling.cancel(db, schedule_id)
    audit_target(f"schedule:{schedule.id}", action="schedule.cancel")
    return schedule
