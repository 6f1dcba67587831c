"""Schemas of number validation, extraction and WhatsApp-existence checks."""
from __future__ import annotations

import phonenumbers
from marshmallow import Schema, ValidationError, fields, validate

MAX_BATCH = 10_000
MAX_TEXT_BYTES = 1024 * 1024


def _region(value: str) -> None:
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("not a known ISO 3166 country code (e.g. IT, GB, US)")


def _text_size(value: str) -> None:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ValidationError(f"at most {MAX_TEXT_BYTES} bytes (UTF-8)")


Country = fields.String(validate=[validate.Length(equal=2), _region],
                        metadata={"description": "country of numbers without a +prefix (default DEFAULT_COUNTRY)"})


class ValidateNumberSchema(Schema):
    number = fields.String(required=True, validate=validate.Length(max=2000))
    country = Country
    checkWhatsApp = fields.Boolean(load_default=False)
    waitSeconds = fields.Float(load_default=5.0, validate=validate.Range(min=0, max=30),
                               metadata={"description": "how long to wait for the session's answer (0-30 s)"})


class NumberResultSchema(Schema):
    input = fields.String()
    isValid = fields.Boolean()
    formatted = fields.String(allow_none=True, metadata={"description": "E.164 digits without +, as in chat ids"})
    e164 = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    displayFormat = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    hasWhatsApp = fields.Boolean(allow_none=True, metadata={
        "description": "the cached answer when there is one (asked for or not); else, with checkWhatsApp, the "
                       "session's answer (null while it has not answered); absent otherwise"})


class CheckRefSchema(Schema):
    jobId = fields.UUID()
    status = fields.String()
    pending = fields.Integer()


class ValidatedNumberSchema(NumberResultSchema):
    whatsAppCheck = fields.Nested(CheckRefSchema, allow_none=True,
                                  metadata={"description": "the job to poll when the answer was not ready"})


class ValidateBatchSchema(Schema):
    numbers = fields.List(fields.String(validate=validate.Length(max=2000)), required=True,
                          validate=validate.Length(min=1, max=MAX_BATCH))
    country = Country
    checkWhatsApp = fields.Boolean(load_default=False)


class BatchResultSchema(Schema):
    total = fields.Integer()
    valid = fields.Integer()
    invalid = fields.Integer()
    results = fields.List(fields.Nested(NumberResultSchema))
    whatsAppCheck = fields.Nested(CheckRefSchema, allow_none=True)


class CheckAnswerSchema(Schema):
    phoneNumber = fields.String()
    hasWhatsApp = fields.Boolean()
    isBusiness = fields.Boolean(allow_none=True)
    checkedAt = fields.DateTime()


class CheckJobSchema(Schema):
    jobId = fields.UUID()
    status = fields.String()
    total = fields.Integer()
    checked = fields.Integer()
    pending = fields.Integer()
    error = fields.String(allow_none=True)
    results = fields.List(fields.Nested(CheckAnswerSchema))
    createdAt = fields.DateTime()
    finishedAt = fields.DateTime(allow_none=True)


class ExtractSchema(Schema):
    text = fields.String(required=True, validate=_text_size)
    country = Country


class FoundNumberSchema(Schema):
    start = fields.Integer()
    end = fields.Integer()
    raw = fields.String()
    formatted = fields.String()
    e164 = fields.String()
    country = fields.String(allow_none=True)
    type = fields.String()
    displayFormat = fields.String()


class ExtractedSchema(Schema):
    count = fields.Integer()
    numbers = fields.List(fields.Nested(FoundNumberSchema))
