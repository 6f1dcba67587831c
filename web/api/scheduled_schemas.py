"""Schemas of the scheduled messages and campaigns."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.enums import ScheduleStatus
from services.bulk import MAX_RECIPIENTS
from services.messages import MAX_TEXT_LENGTH
from services.recurrence import valid_cron, valid_zone
from web.api.messages_schemas import SPREAD_DOC, WARNINGS_DOC, EstimateSchema, MessageSchema, WarningSchema
from web.schemas import PageArgs, page_envelope


class ScheduleInputSchema(Schema):
    """One recipient (`phoneNumber`) or many (`recipients`, ADMIN); `message` or `templateId`;
    `sendAt` (one-off) or `cron` + `timezone` (recurring, optional `endAt` and `maxRuns`)."""

    phoneNumber = fields.String(validate=validate.Length(min=1, max=64))
    recipients = fields.List(fields.String(validate=validate.Length(max=64)),
                             validate=validate.Length(min=1, max=MAX_RECIPIENTS))
    message = fields.String(validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))
    templateId = fields.UUID()
    variables = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    mediaId = fields.UUID(allow_none=True, metadata={
        "description": "a file stored with POST /api/whatsapp/media, sent with every run (the text is its caption)"})
    sendAt = fields.AwareDateTime(metadata={"description": "ISO 8601 with offset, e.g. 2026-12-24T09:00:00+01:00"})
    cron = fields.String(validate=validate.Length(min=9, max=120),
                         metadata={"description": "5 fields, local time of `timezone`"})
    timezone = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "IANA zone"})
    endAt = fields.AwareDateTime(allow_none=True)
    maxRuns = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    spread = fields.Boolean(metadata={
        "description": f"a campaign (several recipients): {SPREAD_DOC}; default false"})

    @validates_schema
    def _coherent(self, data, partial=False, **_kwargs):
        if partial:
            return
        errors: dict[str, list[str]] = {}
        if bool(data.get("phoneNumber")) == bool(data.get("recipients")):
            errors["phoneNumber"] = ["give phoneNumber (one recipient) or recipients (many), not both"]
        if bool(data.get("message")) == bool(data.get("templateId")):
            errors["message"] = ["give message or templateId, not both"]
        if bool(data.get("sendAt")) == bool(data.get("cron")):
            errors["sendAt"] = ["give sendAt (one-off) or cron (recurring), not both"]
        if data.get("cron"):
            if not valid_cron(data["cron"]):
                errors["cron"] = ["not a 5-field cron expression"]
            if not data.get("timezone"):
                errors["timezone"] = ["required with cron"]
        elif data.get("endAt") or data.get("maxRuns"):
            errors["endAt"] = ["endAt and maxRuns apply to recurring schedules only"]
        if data.get("timezone") and not valid_zone(data["timezone"]):
            errors["timezone"] = ["not an IANA time zone, e.g. Europe/Rome"]
        if errors:
            raise ValidationError(errors)


class SchedulePatchSchema(ScheduleInputSchema):
    """The same fields, each optional: PATCH changes only what it names."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


class RunSchema(Schema):
    id = fields.Integer()
    dueAt = fields.DateTime()
    ranAt = fields.DateTime()
    outcome = fields.String(metadata={"description": "SENT or SKIPPED"})
    reason = fields.String(allow_none=True)
    jobId = fields.UUID(allow_none=True)
    messages = fields.List(fields.Nested(MessageSchema))


class ScheduleSchema(Schema):
    id = fields.UUID()
    status = fields.String()
    session = fields.String()
    recipients = fields.List(fields.String(), metadata={"description": "E.164 digits"})
    message = fields.String(attribute="body", allow_none=True)
    templateId = fields.UUID(attribute="template_id", allow_none=True)
    variables = fields.Dict()
    mediaId = fields.UUID(attribute="media_id", allow_none=True)
    sendAt = fields.DateTime(attribute="send_at", allow_none=True)
    cron = fields.String(allow_none=True)
    timezone = fields.String()
    endAt = fields.DateTime(attribute="end_at", allow_none=True)
    maxRuns = fields.Integer(attribute="max_runs", allow_none=True)
    runCount = fields.Integer(attribute="run_count")
    nextRunAt = fields.DateTime(attribute="next_run_at", allow_none=True)
    createdBy = fields.String(attribute="created_by", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")


class ScheduleAcceptedSchema(ScheduleSchema):
    """A schedule as created or changed, with its campaign guard rails (services/guard_rails.py)."""

    estimate = fields.Nested(EstimateSchema, allow_none=True, metadata={
        "description": "a campaign's next run under the session's caps; null for one recipient"})
    warnings = fields.List(fields.Nested(WarningSchema), metadata={"description": WARNINGS_DOC})


class ScheduleDetailSchema(ScheduleSchema):
    runs = fields.List(fields.Nested(RunSchema))


class ScheduleQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in ScheduleStatus]))
    since = fields.AwareDateTime(data_key="from", metadata={"description": "next run at or after"})
    until = fields.AwareDateTime(data_key="to", metadata={"description": "next run before"})
    recipient = fields.String(validate=validate.Length(min=1, max=64))


SchedulePageSchema = page_envelope(ScheduleSchema)
