"""Shared schema pieces: the success envelope and pagination."""
from __future__ import annotations

from functools import lru_cache

from marshmallow import Schema, fields, validate


@lru_cache(maxsize=None)
def envelope(data_schema: type[Schema] | None = None, many: bool = False) -> type[Schema]:
    """`{"success": true, "data": <data_schema>, "message": str}` as a named schema for OpenAPI."""
    data_field = fields.Nested(data_schema, many=many) if data_schema else fields.Raw(allow_none=True)
    name = f"{data_schema.__name__.removesuffix('Schema') if data_schema else 'Empty'}{'List' if many else ''}Envelope"
    return Schema.from_dict(
        {"success": fields.Boolean(dump_default=True), "data": data_field,
         "message": fields.String(allow_none=True)},
        name=name,
    )


@lru_cache(maxsize=None)
def page_envelope(item_schema: type[Schema], many: bool = True) -> type[Schema]:
    """A page of a keyset-paginated list: the envelope plus `nextCursor` (None on the last page).
    `many=False`: `data` is one object holding the page (a bulk job and a page of its recipients)."""
    return Schema.from_dict(
        {"success": fields.Boolean(dump_default=True), "data": fields.Nested(item_schema, many=many),
         "nextCursor": fields.String(allow_none=True), "message": fields.String(allow_none=True)},
        name=f"{item_schema.__name__.removesuffix('Schema')}Page",
    )


class ErrorDetailSchema(Schema):
    type = fields.String(metadata={"description": "CONNECTION_ERROR, VALIDATION_ERROR, RATE_LIMIT, INVALID_NUMBER, "
                                                  "NOT_WHATSAPP, BLOCKED, UNKNOWN, AUTHENTICATION_ERROR, "
                                                  "PERMISSION_DENIED, NOT_FOUND, CONFLICT, SERVICE_UNAVAILABLE"})
    message = fields.String(metadata={"description": "for developers, in English"})
    userMessage = fields.String(metadata={"description": "for people: Italian, or English per Accept-Language"})
    retry = fields.Boolean(metadata={"description": "whether the same request may succeed later"})
    suggestions = fields.List(fields.String())
    details = fields.Raw(metadata={"description": "e.g. the fields that failed validation; `{}` when there is "
                                                  "nothing to add (never null)"})


class ErrorSchema(Schema):
    """The one error envelope (core/errors.py)."""

    success = fields.Boolean(dump_default=False)
    error = fields.Nested(ErrorDetailSchema)


def ok(data=None, message: str | None = None) -> dict:
    return {"success": True, "data": data, "message": message}


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500),
                           metadata={"description": "page size, 1 to 500"})
    cursor = fields.String(load_default=None, metadata={"description": "the nextCursor of the previous page"})


def body_limit(max_bytes, multipart: bool = False):
    """Let one view accept bodies up to `max_bytes` instead of MAX_BODY_BYTES (place it right
    below `@blp.route`); `max_bytes` may be a function of the settings. `multipart`: the view
    takes multipart/form-data as well as JSON (uploads)."""

    def decorator(view):
        view._max_body = max_bytes
        view._multipart = multipart
        return view

    return decorator
