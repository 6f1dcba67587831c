"""WhatsApp groups: read through the session's worker (bounded wait), changed by paced operations
(202, then GET /groups/operations/{id}); see services/groups.py. Sending text to a group is
POST /send with `groupId`."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import GroupOperation, GroupParticipantChange
from services import groups, messages
from web.api.blueprint import Blueprint
from web.api.groups_schemas import (ChangesQuerySchema, CreateGroupSchema, DescriptionSchema, GroupSchema,
                                    GroupSummarySchema, InviteLinkSchema, OperationSchema,
                                    ParticipantChangeSchema, ParticipantsChangeSchema, SubjectSchema)
from web.api.messages import valid_phone
from web.auth import Capability, current_principal, requires
from web.errors import request_language
from web.pagination import page
from web.schemas import envelope, ok, page_envelope
from web.session_scope import authorize_row_session, current_session, session_scoped
from web.transaction import audit_target

blp = Blueprint("groups", __name__, url_prefix="/api/whatsapp/groups", description="WhatsApp groups")

def _numbers(raw: list[str]) -> list[str]:
    """E.164 digits of every participant, in order, without duplicates; 422 naming the invalid ones."""
    numbers, invalid = [], {}
    for index, value in enumerate(raw):
        try:
            numbers.append(valid_phone(value).formatted)
        except GatewayError:
            invalid[str(index)] = ["not a valid phone number"]
    if invalid:
        raise GatewayError(422, "some participants are not valid phone numbers", details={"participants": invalid})
    return list(dict.fromkeys(numbers))


def _text(value: str, field: str, allow_empty: bool = False) -> str:
    """Control characters out (services.messages.strip_control); a subject on one line."""
    value = messages.strip_control(value)
    cleaned = " ".join(value.split()) if field == "subject" else value.strip()
    if not cleaned and not allow_empty:
        raise GatewayError(422, f"{field} is empty", details={field: ["must contain visible text"]})
    return cleaned


def _queue(action: str, group_id: str | None, params: dict):
    operation = groups.create_operation(db, session_name=current_session(), action=action, group_id=group_id,
                                        params=params, user_id=current_principal().id)
    audit_target(f"group:{group_id or 'new'}", action=f"group.{action}", operationId=str(operation.id),
                 **{k: v for k, v in params.items() if k == "participants"})
    return ok(groups.operation_view(operation, request_language()), f"group {action.replace('_', ' ')} queued")


# A read waits for the session's worker; besides the common errors it may answer 502: WhatsApp Web's
# own unexpected error, passed on (services/group_rules.py).
@blp.route("")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.response(200, envelope(GroupSummarySchema, many=True))
@blp.alt_response(502, response="BAD_GATEWAY")
def list_groups():
    """The session's groups as WhatsApp Web knows them: id, subject, size, whether we are admin."""
    return ok(groups.read(current_session(), "list"))


@blp.route("", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.arguments(CreateGroupSchema)
@blp.response(202, envelope(OperationSchema))
def create_group(args):
    """Create a group with participants (paced like a send); the operation's result has its id and
    each participant's code."""
    return _queue("create", None, {"subject": _text(args["subject"], "subject"),
                                   "participants": _numbers(args["participants"])})


@blp.route("/operations/<uuid:operation_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(OperationSchema))
def get_operation(operation_id: uuid.UUID):
    """A group change's state (PENDING, RUNNING, DONE, FAILED), its result or its error."""
    operation = get_or_404(db, GroupOperation, operation_id, "group operation")
    authorize_row_session(operation.session)
    return ok(groups.operation_view(operation, request_language()))


@blp.route("/<group:group_id>")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.response(200, envelope(GroupSchema))
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(502, response="BAD_GATEWAY")
def get_group(group_id: str):
    """One group: metadata and participants, people by phone number (resolved from LIDs)."""
    return ok(groups.read(current_session(), "get", groups.group_chat_id(group_id)))


@blp.route("/<group:group_id>/participants", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.arguments(ParticipantsChangeSchema)
@blp.response(202, envelope(OperationSchema))
def change_participants(args, group_id: str):
    """Add, remove, promote or demote participants; the result has a code per participant."""
    return _queue(args["action"], groups.group_chat_id(group_id), {"participants": _numbers(args["participants"])})


@blp.route("/<group:group_id>/subject", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.arguments(SubjectSchema)
@blp.response(202, envelope(OperationSchema))
def set_subject(args, group_id: str):
    """Rename the group."""
    return _queue("subject", groups.group_chat_id(group_id), {"subject": _text(args["subject"], "subject")})


@blp.route("/<group:group_id>/description", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.arguments(DescriptionSchema)
@blp.response(202, envelope(OperationSchema))
def set_description(args, group_id: str):
    """Set (or, with an empty string, clear) the group's description."""
    return _queue("description", groups.group_chat_id(group_id),
                  {"description": _text(args["description"], "description", allow_empty=True)})


@blp.route("/<group:group_id>/invite-link")
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.response(200, envelope(InviteLinkSchema))
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(502, response="BAD_GATEWAY")
def invite_link(group_id: str):
    """The group's invite link (anyone holding it may join, hence ADMIN): the account must be admin."""
    return ok(groups.read(current_session(), "invite_code", groups.group_chat_id(group_id)))


@blp.route("/<group:group_id>/invite-link/revoke", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.response(202, envelope(OperationSchema))
def revoke_invite_link(group_id: str):
    """Revoke the invite link; the operation's result has the new one."""
    return _queue("revoke_invite", groups.group_chat_id(group_id), {})


@blp.route("/<group:group_id>/leave", methods=["POST"])
@requires(Capability.GROUPS)
@session_scoped(blp)
@blp.response(202, envelope(OperationSchema))
def leave_group(group_id: str):
    """Leave the group (the session's account stops being a participant)."""
    return _queue("leave", groups.group_chat_id(group_id), {})


@blp.route("/<group:group_id>/participant-changes")
@requires(Capability.VIEW)
@session_scoped(blp)
@blp.arguments(ChangesQuerySchema, location="query")
@blp.response(200, page_envelope(ParticipantChangeSchema))
def participant_changes(args, group_id: str):
    """`group.participant_changed` as WhatsApp reported it (anyone's changes, ours included), newest first."""
    query = select(GroupParticipantChange).where(GroupParticipantChange.session == current_session(),
                                                 GroupParticipantChange.group_id == groups.group_chat_id(group_id))
    rows, next_cursor = page(query, GroupParticipantChange.at, GroupParticipantChange.id, args["limit"],
                             args["cursor"], db)
    data = [{"id": r.id, "group_id": r.group_id, "action": r.action, "participants": r.participants, "at": r.at,
             "author": {"phoneNumber": r.author_phone, "lid": r.author_lid}} for r in rows]
    return {**ok(data), "nextCursor": next_cursor}
