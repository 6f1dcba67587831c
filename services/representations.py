"""The public representations of the resources that events carry: the same dumps the REST API
answers with (web/api imports them from here). Marshmallow only: the worker records events and
must not import the web package (a lazy import of it from the worker's event thread raced the task
thread's imports and saw a partially initialised `flask`)."""
from __future__ import annotations

from marshmallow import Schema, fields


class InvalidNumberSchema(Schema):
    number = fields.String()
    reason = fields.String()


class JobSchema(Schema):
    jobId = fields.String()
    status = fields.String()
    kind = fields.String()
    total = fields.Integer()
    queued = fields.Integer()
    sent = fields.Integer()
    delivered = fields.Integer()
    read = fields.Integer()
    failed = fields.Integer()
    failedByType = fields.Dict(keys=fields.String(), values=fields.Integer())
    invalid = fields.List(fields.Nested(InvalidNumberSchema))
    createdAt = fields.DateTime()
    finishedAt = fields.DateTime(allow_none=True)
    cancelledAt = fields.DateTime(allow_none=True)


class MessageSchema(Schema):
    id = fields.UUID(dump_only=True, metadata={"description": "the message's id, as messageId (the original's list and mark-read "
                                              "flows read `id`)"})
    messageId = fields.UUID(attribute="id")
    phoneNumber = fields.String(attribute="phone_number", allow_none=True, metadata={
        "description": "personal data. E.164 digits; null only for an incoming message whose sender WhatsApp names by a LID "
                       "not mapped to a number yet (see `lid`): filed under the number once it is"})
    lid = fields.String(allow_none=True, metadata={
        "description": "personal data. The sender's WhatsApp LID (`<digits>@lid`) when WhatsApp gave one"})
    message = fields.String(attribute="body", allow_none=True, metadata={
        "description": "personal data; blanked after MESSAGE_RETENTION_DAYS"})
    direction = fields.String()
    status = fields.String()
    senderName = fields.String(attribute="sender_name", allow_none=True, metadata={"description": "personal data"})
    timestamp = fields.DateTime(allow_none=True)
    mediaUrl = fields.String(attribute="media_url", allow_none=True, metadata={
        "description": "where GET serves the attachment (null: none, not downloaded yet, or purged)"})
    mediaType = fields.String(attribute="media_type", allow_none=True,
                              metadata={"description": "image, video, audio, ptt, document or sticker"})
    filename = fields.String(allow_none=True)
    mimetype = fields.String(allow_none=True)
    caption = fields.String(allow_none=True)
    fromMe = fields.Boolean(attribute="from_me")
    isGroupMsg = fields.Boolean(attribute="is_group_msg")
    chatId = fields.String(attribute="chat_id")
    userId = fields.String(attribute="user_id", allow_none=True)
    session = fields.String()
    waMessageId = fields.String(attribute="wa_message_id", allow_none=True)
    errorType = fields.String(attribute="error_type", allow_none=True)
    errorMessage = fields.String(attribute="error_message", allow_none=True)
    attempts = fields.Integer()
    jobId = fields.UUID(attribute="bulk_job_id", allow_none=True)
    templateId = fields.UUID(attribute="template_id", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    sendingAt = fields.DateTime(attribute="sending_at", allow_none=True)
    sentAt = fields.DateTime(attribute="sent_at", allow_none=True)
    deliveredAt = fields.DateTime(attribute="delivered_at", allow_none=True)
    readAt = fields.DateTime(attribute="read_at", allow_none=True)
    failedAt = fields.DateTime(attribute="failed_at", allow_none=True)
