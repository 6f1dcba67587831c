"""WhatsApp groups, shared by the API and the session's worker.

WhatsApp Web holds the groups; the API never touches the browser, so:
- reads (the list, one group with its participants, the invite link) are a task on the session's
  queue whose result the API waits for, at most GROUP_READ_TIMEOUT_SECONDS: the same bounded wait
  for every read, refused at once (503) when no live worker has the session CONNECTED, and the task
  dropped if not started within the wait (`expires`), so no worker runs a read nobody waits for;
- changes (create, participants, subject, description, invite-link revoke, leave) are a
  `GroupOperation` row, committed, and a task carrying its id; the API answers 202 with the row and
  GET /groups/operations/{id} reports the outcome (per-participant codes included). The worker paces
  them with the session's sends (worker/pacer.py): they count against the same limits.
Participant changes WhatsApp reports (`group.participant_changed`) are recorded as rows
(`GroupParticipantChange`), people filed by phone number like message senders (services/lids.py).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import celery.exceptions
from celery.result import AsyncResult
from sqlalchemy.orm import Session

from core.celery_app import celery_for
from core.db import after_commit
from core.errors import GatewayError
from core.settings import current_settings
from models import GroupOperation, GroupParticipantChange
from services import dispatch, events, group_rules
from services.messages import now
from services.session_state import read_state

GROUP_ID = re.compile(r"[0-9]{5,40}(?:-[0-9]{5,20})?@g\.us")
GROUP_ID_INPUT = r"[0-9]{5,40}(?:-[0-9]{5,20})?(?:@g\.us)?"  # what a client may write: the suffix optional
ACTIONS = ("create", "add", "remove", "promote", "demote", "subject", "description", "revoke_invite", "leave")
PARTICIPANT_ACTIONS = ("add", "remove", "promote", "demote")
READS = ("list", "get", "invite_code")
MAX_PARTICIPANTS = 1024  # WhatsApp's largest groups
INVITE_LINK = "https://chat.whatsapp.com/"


@dataclass(frozen=True)
class GroupRecipient:
    """A group as the recipient of services.messages.enqueue: no phone number, the group's chat id."""

    chat_id: str
    formatted: None = None


def group_chat_id(raw: str) -> str:
    """`120363012345678901` or `...@g.us` (or an old `<phone>-<time>` id) -> the group's chat id; 422 else."""
    value = raw.strip()
    value = value if "@" in value else f"{value}@g.us"
    if not GROUP_ID.fullmatch(value):
        raise GatewayError(422, f"{raw!r} is not a WhatsApp group id (digits, optionally -digits, then @g.us)",
                           details={"groupId": ["not a group id"]})
    return value


# -- reads ----------------------------------------------------------------------------------
def read(session_name: str, what: str, group_id: str | None = None) -> Any:
    """Ask the session's worker and wait (bounded) for its answer; wa-js errors become 4xx."""
    settings = current_settings()
    state = read_state(session_name)
    if not state["alive"] or state["state"] != "CONNECTED":
        raise group_rules.error("not_connected", f"session {session_name} is {state['state']}: groups are read "
                                "through a connected session")
    timeout = settings.group_read_timeout_seconds
    task_id = dispatch.publish_group_read(session_name, what, group_id, expires=timeout)
    result = AsyncResult(task_id, app=celery_for(settings))
    try:
        answer = result.get(timeout=timeout, propagate=False)
    except celery.exceptions.TimeoutError:
        raise group_rules.error("no_answer", f"the worker of session {session_name} did not answer within "
                                f"{timeout} s") from None
    finally:
        result.forget()
    if not isinstance(answer, dict):  # the task failed, or went back to the queue for another worker
        raise group_rules.error("no_answer", f"the worker of session {session_name} could not read: {answer}")
    if not answer.get("ok"):
        raise group_rules.error(answer.get("code"), str(answer.get("message")))
    return answer.get("value")


# -- changes ----------------------------------------------------------------------------------
def create_operation(session: Session, *, session_name: str, action: str, group_id: str | None,
                     params: dict, user_id: str | None) -> GroupOperation:
    """A PENDING change; its task is published after commit."""
    operation = GroupOperation(id=uuid.uuid4(), session=session_name, group_id=group_id, action=action,
                               params=params, status="PENDING", created_by=user_id)
    session.add(operation)
    session.flush()
    after_commit(session, lambda: dispatch.publish_group_operation(operation.id, session_name))
    return operation


def finish(operation: GroupOperation, result: dict | None, group_id: str | None = None) -> None:
    operation.status, operation.result, operation.finished_at = "DONE", result, now()
    operation.group_id = group_id or operation.group_id


def fail(operation: GroupOperation, code: str, message: str) -> None:
    operation.status, operation.error_code, operation.finished_at = "FAILED", code, now()
    operation.error_message = message[:2000]


def operation_view(operation: GroupOperation, lang: str = "it") -> dict:
    error = None
    if operation.status == "FAILED":
        found = group_rules.rule(operation.error_code)
        error = {"code": operation.error_code, "type": found.error_type.value, "status": found.status,
                 "message": operation.error_message, "userMessage": group_rules.user_message(operation.error_code, lang)}
    return {"operationId": operation.id, "session": operation.session, "groupId": operation.group_id,
            "action": operation.action, "params": operation.params, "status": operation.status,
            "result": operation.result, "error": error, "createdAt": operation.created_at,
            "finishedAt": operation.finished_at}


# -- participant changes ------------------------------------------------------------------------
Person = Callable[[str], tuple[str | None, str | None]]


def person_view(person: Person, wid: str) -> dict:
    phone, lid = person(wid)
    return {"phoneNumber": phone or None, "lid": lid}


def record_participant_change(session: Session, session_name: str, event: dict,
                              person: Person) -> GroupParticipantChange | None:
    """Store one `group.participant_changed`, and its event; `person` maps a WhatsApp id to (phone, LID)."""
    group_id, action = event.get("groupId"), event.get("action")
    if not isinstance(group_id, str) or not isinstance(action, str):
        return None
    author = person_view(person, event["author"]) if event.get("author") else {"phoneNumber": None, "lid": None}
    change = GroupParticipantChange(
        session=session_name, group_id=group_id[:64], action=action[:10], author_phone=author["phoneNumber"],
        author_lid=author["lid"],
        participants=[person_view(person, wid) for wid in event.get("participants") or [] if isinstance(wid, str)])
    session.add(change)
    events.record(session, "group.participant_changed", session_name, [{
        "groupId": change.group_id, "action": change.action,
        "author": {"phoneNumber": change.author_phone, "lid": change.author_lid},
        "participants": change.participants}])
    return change
