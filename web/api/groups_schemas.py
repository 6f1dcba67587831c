"""Schemas of the group endpoints."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

from services.groups import GROUP_ID_INPUT, MAX_PARTICIPANTS, PARTICIPANT_ACTIONS
from web.schemas import PageArgs

_GROUP_ID = re.compile(GROUP_ID_INPUT)
MAX_SUBJECT = 100  # WhatsApp's limit on a group's name
MAX_DESCRIPTION = 2048  # ...and on its description


def _group_id(value: str) -> None:
    if not _GROUP_ID.fullmatch(value):  # fullmatch: `$` would let a trailing newline through
        raise ValidationError("a WhatsApp group id: digits (optionally -digits), optionally @g.us")


def GroupId(description: str = "the group's id", **kwargs) -> fields.String:
    return fields.String(validate=_group_id, metadata={"pattern": f"^{GROUP_ID_INPUT}$", "description":
                         f"{description}, e.g. 120363012345678901@g.us (the @g.us may be left out)"}, **kwargs)


def Participants(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                       validate=validate.Length(min=1, max=MAX_PARTICIPANTS),
                       metadata={"description": "phone numbers (international format)"}, **kwargs)


class CreateGroupSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SUBJECT))
    participants = Participants(required=True)


class ParticipantsChangeSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(PARTICIPANT_ACTIONS))
    participants = Participants(required=True)


class SubjectSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SUBJECT))


class DescriptionSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(max=MAX_DESCRIPTION),
                                metadata={"description": "empty clears it"})


class PersonSchema(Schema):
    phoneNumber = fields.String(allow_none=True, metadata={
        "description": "E.164 digits; null only for a LID WhatsApp Web cannot map to a number yet"})
    lid = fields.String(allow_none=True, metadata={"description": "the WhatsApp LID (`<digits>@lid`) when it gave one"})


class ParticipantSchema(PersonSchema):
    isAdmin = fields.Boolean()
    isSuperAdmin = fields.Boolean()


class GroupSummarySchema(Schema):
    id = fields.String()
    subject = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    iAmAdmin = fields.Boolean(metadata={"description": "whether the session's account is an admin of the group"})


class GroupSchema(GroupSummarySchema):
    description = fields.String(allow_none=True)
    owner = fields.Nested(PersonSchema, allow_none=True)
    creation = fields.Integer(allow_none=True, metadata={"description": "unix seconds"})
    announce = fields.Boolean(metadata={"description": "only admins may send"})
    restrict = fields.Boolean(metadata={"description": "only admins may edit the group's info"})
    lidAddressing = fields.Boolean(metadata={"description": "WhatsApp addresses the members by LID"})
    participants = fields.List(fields.Nested(ParticipantSchema))


class InviteLinkSchema(Schema):
    groupId = fields.String()
    inviteCode = fields.String()
    inviteLink = fields.String()


class OperationErrorSchema(Schema):
    code = fields.String(metadata={"description": "wa-js's code, e.g. group_you_are_not_admin"})
    type = fields.String()
    status = fields.Integer(metadata={"description": "the HTTP status a synchronous answer would have had"})
    message = fields.String(allow_none=True)
    userMessage = fields.String()


class OperationSchema(Schema):
    operationId = fields.UUID()
    session = fields.String()
    groupId = fields.String(allow_none=True, metadata={"description": "for a create: known once DONE"})
    action = fields.String(metadata={"description": "create, add, remove, promote, demote, subject, description, "
                                                    "revoke_invite, leave"})
    params = fields.Dict()
    status = fields.String(metadata={"description": "PENDING, RUNNING, DONE or FAILED"})
    result = fields.Dict(allow_none=True, metadata={
        "description": "participants: [{phoneNumber, lid, code, message}] (add: 200 added, 403 restricted, 409 "
                       "already a member, 421 awaiting approval); inviteLink for a revoke; groupId for a create"})
    error = fields.Nested(OperationErrorSchema, allow_none=True)
    createdAt = fields.DateTime()
    finishedAt = fields.DateTime(allow_none=True)


class ParticipantChangeSchema(Schema):
    id = fields.Integer()
    groupId = fields.String(attribute="group_id")
    action = fields.String(metadata={"description": "add, remove, promote, demote, join, leaver"})
    author = fields.Nested(PersonSchema, allow_none=True)
    participants = fields.List(fields.Nested(PersonSchema))
    at = fields.DateTime()


class ChangesQuerySchema(PageArgs):
    pass
