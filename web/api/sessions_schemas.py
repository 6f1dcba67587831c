"""Schemas of the session endpoints (camelCase fields, as the rest of the API)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services import quiet_hours as quiet
from web.session_scope import SessionName

HOUR_MS = 3_600_000


def _cap(key: str, low: int, high: int, what: str) -> fields.Integer:
    return fields.Integer(data_key=key, allow_none=True, validate=validate.Range(min=low, max=high),
                          metadata={"description": f"{what}; null: the default from the settings"})


def _valid(check):
    """A marshmallow validator from a function raising ValueError."""
    def validator(value):
        try:
            check(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    return validator


class SessionEditSchema(Schema):
    """The editable fields; loaded under the model's names (services.sessions.EDITABLE)."""

    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    active = fields.Boolean(metadata={"description": "an inactive session refuses requests (409)"})
    send_min_interval_ms = _cap("sendMinIntervalMs", 0, HOUR_MS, "milliseconds at least between two sends")
    send_jitter_ms = _cap("sendJitterMs", 0, HOUR_MS, "random extra milliseconds after each send, up to this")
    send_max_per_second = _cap("sendMaxPerSecond", 1, 100, "sends at most in any 1-second window")
    send_max_per_hour = _cap("sendMaxPerHour", 0, 1_000_000, "sends at most per clock hour, 0: no cap")
    send_max_per_day = _cap("sendMaxPerDay", 0, 10_000_000, "sends at most per UTC day, 0: no cap")
    quiet_hours = fields.String(data_key="quietHours", allow_none=True, validate=_valid(quiet.parse),
                                metadata={"description": "HH:MM-HH:MM, e.g. 21:00-08:00: bulk and campaign messages "
                                                         "wait in this daily window; null: none"})
    quiet_timezone = fields.String(data_key="quietTimezone", allow_none=True, validate=_valid(quiet.check_zone),
                                   metadata={"description": "IANA time zone of the quiet hours; null: TIMEZONE"})
    quiet_hold_singles = fields.Boolean(data_key="quietHoursHoldSingles", metadata={"description": (
        "the quiet hours hold single interactive sends too (they wait for the window's end like bulks); "
        "default false: only bulks and campaigns wait")})
    typing_before_send = fields.Boolean(data_key="typingBeforeSend", metadata={"description": (
        "show \"typing...\" in the chat before each send, for a time that grows with the text (1 to 8 s); "
        "counted in the pacing, not added to it. Default false")})


class SessionCreateSchema(SessionEditSchema):
    name = SessionName("1 to 32 of a-z, 0-9, _ and -: it becomes the queues wa.<name> and wa.<name>.bulk",
                       required=True)


class SessionPatchSchema(SessionEditSchema):
    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ValidationError("give at least one field to change")


class SessionQuerySchema(Schema):
    active = fields.Boolean(metadata={"description": "only active (true) or only inactive (false) sessions"})


class DeleteQuerySchema(Schema):
    confirm = fields.String(required=True, validate=validate.Length(min=1, max=64),
                            metadata={"description": "the session's name again: deleting unlinks the phone "
                                                     "and wipes the browser profile"})


class PacingSchema(Schema):
    minIntervalMs = fields.Integer(attribute="min_interval_ms")
    jitterMs = fields.Integer(attribute="jitter_ms")
    maxPerSecond = fields.Integer(attribute="max_per_second")
    maxPerHour = fields.Integer(attribute="max_per_hour", metadata={"description": "0: no cap"})
    maxPerDay = fields.Integer(attribute="max_per_day", metadata={"description": "0: no cap"})


class SessionSchema(Schema):
    name = fields.String()
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    isDefault = fields.Boolean(attribute="is_default", metadata={"description": "SESSION_NAME: the session "
                                                                                "of requests that name none"})
    queues = fields.List(fields.String(), metadata={"description": "the Celery queues of its sends"})
    sendMinIntervalMs = fields.Integer(attribute="send_min_interval_ms", allow_none=True)
    sendJitterMs = fields.Integer(attribute="send_jitter_ms", allow_none=True)
    sendMaxPerSecond = fields.Integer(attribute="send_max_per_second", allow_none=True)
    sendMaxPerHour = fields.Integer(attribute="send_max_per_hour", allow_none=True)
    sendMaxPerDay = fields.Integer(attribute="send_max_per_day", allow_none=True)
    quietHours = fields.String(attribute="quiet_hours", allow_none=True)
    quietTimezone = fields.String(attribute="quiet_timezone", allow_none=True)
    quietHoursHoldSingles = fields.Boolean(attribute="quiet_hold_singles")
    typingBeforeSend = fields.Boolean(attribute="typing_before_send")
    effectivePacing = fields.Nested(PacingSchema, attribute="effective_pacing", metadata={
        "description": "the caps in force: overrides, else the defaults"})
    createdBy = fields.String(attribute="created_by", allow_none=True)
    updatedBy = fields.String(attribute="updated_by", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")


class SessionDeletedSchema(Schema):
    name = fields.String()
    deletedAt = fields.DateTime()
    logout = fields.String(metadata={"description": "queued: the worker driving the session unlinks the "
                                                    "phone and wipes its profile (at once, or when one next "
                                                    "drives it)"})
    workerAlive = fields.Boolean(metadata={"description": "whether a worker drives the session now"})
