"""Schemas of the template endpoints (the original API's field names)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.enums import TemplateCategory
from services.bulk import MAX_RECIPIENTS
from services.messages import MAX_TEXT_LENGTH
from services.templates import KEY, NAME_LENGTH
from web.api.messages_schemas import (SPREAD_DOC, WARNINGS_DOC, EstimateSchema, InvalidNumberSchema,
                                      QueuedSchema, WarningSchema, transactional_field)
from web.schemas import PageArgs

CATEGORIES = [c.value for c in TemplateCategory]


class VariableValue(fields.Field):
    """A variable's value: a string, number or boolean (never an object: rendering is plain text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (str, int, float, bool)):
            if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
                raise ValidationError(f"at most {MAX_TEXT_LENGTH} characters")
            return value
        raise ValidationError("must be a string, a number or a boolean")


def Variables(**kwargs):
    return fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)), values=VariableValue(),
                       validate=validate.Length(max=200), **kwargs)


class VariableSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(KEY, error="letters, digits and _ only"))
    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    required = fields.Boolean(load_default=True)
    default = fields.String(allow_none=True, validate=validate.Length(max=MAX_TEXT_LENGTH))


class TemplateInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_LENGTH))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))
    variables = fields.List(fields.Nested(VariableSchema), validate=validate.Length(max=100))
    is_active = fields.Boolean(data_key="isActive")
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=20))

    @validates_schema
    def _visible_name(self, data, **_kwargs):
        if "name" in data and not data["name"].strip():
            raise ValidationError("must not be blank", field_name="name")


class TemplateUpdateSchema(TemplateInSchema):
    name = fields.String(validate=validate.Length(min=1, max=NAME_LENGTH))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    content = fields.String(validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))

    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ValidationError("give at least one field to change")


class TemplateSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    category = fields.String()
    content = fields.String()
    variables = fields.List(fields.Nested(VariableSchema))
    isActive = fields.Boolean(attribute="is_active")
    usageCount = fields.Integer(attribute="usage_count")
    tags = fields.List(fields.String())
    createdBy = fields.String(attribute="created_by", allow_none=True)
    updatedBy = fields.String(attribute="updated_by", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")



class TemplateQuerySchema(PageArgs):
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    tag = fields.String(validate=validate.Length(min=1, max=50))
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "search name and content"})


class PreviewSchema(Schema):
    variables = Variables(load_default=dict)


class TemplateSendSchema(PreviewSchema):
    phoneNumber = fields.String(required=True, validate=validate.Length(min=1, max=64))
    transactional = transactional_field()
    mediaId = fields.UUID(metadata={"description": "a file stored with POST /api/whatsapp/media: the "
                                                   "rendered text becomes its caption"})


class RecipientSchema(Schema):
    phoneNumber = fields.String(required=True, validate=validate.Length(max=64))
    variables = Variables(load_default=dict)


class Recipient(fields.Field):
    """One recipient of a template bulk: `{phoneNumber, variables}`, or a plain number string (the
    original API's form, which takes only the shared variables)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = {"phoneNumber": value}
        if not isinstance(value, dict):
            raise ValidationError("must be a phone number string or an object {phoneNumber, variables}")
        return RecipientSchema().load(value)  # its ValidationError names the nested fields


class TemplateBulkSchema(Schema):
    recipients = fields.List(
        Recipient(metadata={"oneOf": [
            {"type": "string", "maxLength": 64},
            {"type": "object", "required": ["phoneNumber"],
             "properties": {"phoneNumber": {"type": "string", "maxLength": 64},
                            "variables": {"type": "object", "maxProperties": 200, "additionalProperties": {}}}},
        ]}),
        required=True, validate=validate.Length(min=1, max=MAX_RECIPIENTS),
        metadata={"description": "numbers as strings (shared variables only) or {phoneNumber, variables} "
                                 "objects, mixed as you like"})
    variables = Variables(load_default=dict, metadata={"description": "shared defaults for every recipient"})
    mediaId = fields.UUID(metadata={"description": "a file stored with POST /api/whatsapp/media: the "
                                                   "rendered text becomes its caption"})
    spread = fields.Boolean(load_default=False, metadata={"description": SPREAD_DOC})


class PreviewOutSchema(Schema):
    templateId = fields.UUID()
    message = fields.String()
    ignoredVariables = fields.List(fields.String())


class TemplateQueuedSchema(PreviewOutSchema, QueuedSchema):
    pass


class RecipientErrorSchema(Schema):
    phoneNumber = fields.String()
    missing = fields.List(fields.String())


class TemplateBulkAcceptedSchema(Schema):
    jobId = fields.UUID(allow_none=True)
    templateId = fields.UUID()
    queued = fields.List(fields.String())
    invalid = fields.List(fields.Nested(InvalidNumberSchema))
    errors = fields.List(fields.Nested(RecipientErrorSchema),
                         metadata={"description": "recipients not queued for missing variables"})
    ignoredVariables = fields.List(fields.String())
    estimate = fields.Nested(EstimateSchema)
    warnings = fields.List(fields.Nested(WarningSchema), metadata={"description": WARNINGS_DOC})
