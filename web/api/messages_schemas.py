"""Schemas of the message endpoints (the original API's field names)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.enums import Direction, MessageStatus
from services.bulk import MAX_RECIPIENTS
from services.messages import MAX_TEXT_LENGTH
from services.representations import InvalidNumberSchema, JobSchema, MessageSchema  # noqa: F401 - the API's too
from web.api.groups_schemas import GroupId
from web.schemas import PageArgs

PhoneField = fields.String(validate=validate.Length(min=1, max=64))


def transactional_field() -> fields.Boolean:
    return fields.Boolean(load_default=False, metadata={
        "description": "send even to a number that opted out (409 otherwise): only for a message the person "
                       "expects, such as an order confirmation; recorded in the audit log"})


class OneRecipient(Schema):
    """Whom one message goes to: a person (`phoneNumber`, or its alias `recipient`) or a group."""

    phoneNumber = fields.String(validate=validate.Length(min=1, max=64))
    recipient = fields.String(validate=validate.Length(min=1, max=64),
                              metadata={"description": "alias of phoneNumber (the original API accepted both)"})
    groupId = GroupId("send to this group instead of a phone number")
    transactional = transactional_field()

    @validates_schema
    def _one_recipient(self, data, **_kwargs):
        person = data.get("phoneNumber") or data.get("recipient")
        if not person and not data.get("groupId"):
            raise ValidationError("phoneNumber (or recipient) or groupId is required", field_name="phoneNumber")
        if person and data.get("groupId"):
            raise ValidationError("give either phoneNumber (or recipient) or groupId, not both", field_name="groupId")


class SendSchema(OneRecipient):
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))


class SettledFields(Schema):
    """What a `Prefer: wait` answer adds once the message is sent (200) or failed (web/prefer_wait.py)."""

    waMessageId = fields.String(allow_none=True, metadata={"description": "the WhatsApp id (200, SENT)"})
    sentAt = fields.String(allow_none=True)
    errorType = fields.String(allow_none=True, metadata={"description": "why it failed (200, FAILED)"})
    errorMessage = fields.String(allow_none=True)


class QueuedSchema(SettledFields):
    messageId = fields.UUID()
    status = fields.String(metadata={"description": "QUEUED (202); SENT or further, or FAILED (200, Prefer: wait)"})
    phoneNumber = fields.String(allow_none=True, metadata={"description": "null for a send to a group"})
    groupId = fields.String(allow_none=True, metadata={"description": "the group's chat id for a send to a group"})


SPREAD_DOC = ("accept a bulk above the session's daily cap: what is over each day's cap waits for the "
              "next day; without it such a bulk is refused with 422 and the estimate")


class BulkSchema(Schema):
    recipients = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                             validate=validate.Length(min=1, max=MAX_RECIPIENTS))
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))
    spread = fields.Boolean(load_default=False, metadata={"description": SPREAD_DOC})


class EstimateSchema(Schema):
    """services/guard_rails.py: the earliest finish under the session's caps (the browser's own time aside)."""

    messages = fields.Integer()
    queuedAhead = fields.Integer(metadata={
        "description": "the session's messages already waiting, sent first (0 for a campaign on a later "
                       "day)"})
    startsAt = fields.DateTime(metadata={
        "description": "when the sends start: now for a bulk, the run for a campaign"})
    sentToday = fields.Integer(metadata={
        "description": "sends counted against the first day's caps (UTC day): today's so far, 0 for a "
                       "campaign on a later day"})
    dailyCap = fields.Integer(allow_none=True)
    estimatedFinishAt = fields.DateTime()
    days = fields.Integer(metadata={"description": "UTC days the sends span"})
    spread = fields.Boolean()


class WarningSchema(Schema):
    """Something the caller should know about a job that is accepted all the same."""

    code = fields.String(metadata={
        "description": "NEW_NUMBERS: more recipients than BULK_NEW_NUMBERS_WARN_PERCENT never wrote to the "
                       "session and never got a message from it"})
    message = fields.String(metadata={
        "description": "the warning in the request's language (Italian, or English)"})
    newNumbers = fields.Integer(metadata={"description": "NEW_NUMBERS: recipients new to the session"})
    recipients = fields.Integer(metadata={"description": "NEW_NUMBERS: recipients queued"})
    sharePercent = fields.Float(metadata={"description": "NEW_NUMBERS: new ones, in percent of those queued"})
    thresholdPercent = fields.Integer(metadata={
        "description": "NEW_NUMBERS: BULK_NEW_NUMBERS_WARN_PERCENT in force"})


WARNINGS_DOC = "risks the job was accepted with (empty: none); see WarningSchema"


class BulkAcceptedSchema(Schema):
    jobId = fields.UUID()
    queued = fields.List(fields.String(), metadata={"description": "numbers queued (E.164 digits)"})
    sent = fields.List(fields.String(), metadata={"description": "always empty: sending happens later"})
    failed = fields.List(fields.String())
    invalid = fields.List(fields.Nested(InvalidNumberSchema))
    estimate = fields.Nested(EstimateSchema)
    warnings = fields.List(fields.Nested(WarningSchema), metadata={"description": WARNINGS_DOC})


class JobRecipientSchema(Schema):
    """One recipient's outcome in a bulk job (what the original's synchronous `sent` list told)."""

    id = fields.UUID(dump_only=True, metadata={"description": "the message's id"})
    phoneNumber = fields.String(attribute="phone_number")
    status = fields.String()
    waMessageId = fields.String(attribute="wa_message_id", allow_none=True)
    errorType = fields.String(attribute="error_type", allow_none=True)
    errorMessage = fields.String(attribute="error_message", allow_none=True)
    attempts = fields.Integer()
    sentAt = fields.DateTime(attribute="sent_at", allow_none=True)
    deliveredAt = fields.DateTime(attribute="delivered_at", allow_none=True)
    readAt = fields.DateTime(attribute="read_at", allow_none=True)
    failedAt = fields.DateTime(attribute="failed_at", allow_none=True)


class JobDetailSchema(JobSchema):
    recipients = fields.List(fields.Nested(JobRecipientSchema), metadata={
        "description": "one page of the job's recipients with their outcome, newest first; the envelope's "
                       "nextCursor (as ?cursor=) gives the next page"})


class JobQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in MessageStatus]),
                           metadata={"description": "only the recipients whose message has this status"})


class HistoryStepSchema(Schema):
    status = fields.String()
    at = fields.DateTime()
    errorType = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)


class MessageDetailSchema(MessageSchema):
    history = fields.List(fields.Nested(HistoryStepSchema))



class MessageQuerySchema(PageArgs):
    phoneNumber = fields.String(validate=validate.Length(max=64))
    groupId = GroupId("only the messages of this group (sent to it and received in it)")
    direction = fields.String(validate=validate.OneOf([d.value for d in Direction]))
    status = fields.String(validate=validate.OneOf([s.value for s in MessageStatus]))
    jobId = fields.UUID()
    since = fields.AwareDateTime(data_key="from")
    until = fields.AwareDateTime(data_key="to")
    q = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "text search"})
