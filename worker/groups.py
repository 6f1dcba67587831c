"""Group calls in the session's worker: reads for the API's bounded wait, and the paced changes of
`GroupOperation` rows (services/groups.py). wa-js 4.6.0 `WPP.group.*` (src/group/functions/).

Every call goes through the session's browser thread (worker/calls.py). Changes wait for the
session's send pacer first, so group changes and sends share the session's limits.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from core.db import db
from models import GroupOperation
from services import dispatch, groups, lids
from services.messages import now
from services.send_rules import WAIT_FOR_CONNECTION_SECONDS
from worker.calls import WhatsAppCalls
from worker.errors import BrowserDied, BrowserTimeout, LeaseLost, SessionNotConnected, WhatsAppError
from worker.pacer import Pacer, PacingDeferred
from worker.states import State

log = logging.getLogger(__name__)

# What the list and one group need, as plain JSON: wa-js returns live models (ChatModel,
# ParticipantModel, Wid) that do not cross Selenium. getParticipants goes first: its ensureGroup
# gives wa-js's own errors (chat_not_found, not_a_group) for a bad id.
INFO = r"""
var op = arguments[0], gid = arguments[1], done = arguments[arguments.length - 1];
function s(x) { return x ? (x._serialized || String(x)) : null; }
function count(m) { return m.size || (m.participants ? m.participants.length : null) || null; }
(async function () {
  if (op === 'list') {
    var out = [];
    for (var chat of await WPP.group.getAllGroups()) {
      if (!chat) continue;  // getAllGroups maps the server's list through ChatStore.get
      var m = chat.groupMetadata || {}, id = s(chat.id);
      // the metadata's own participants answer as ensureGroup does, without a call per group
      var admin = m.participants && m.participants.iAmAdmin ? m.participants.iAmAdmin()
                                                            : await WPP.group.iAmAdmin(id);
      out.push({id: id, subject: m.subject || chat.name || null, size: count(m), iAmAdmin: !!admin});
    }
    return {ok: true, value: out};
  }
  var ps = await WPP.group.getParticipants(gid);
  var chat = await WPP.chat.find(gid), m = chat.groupMetadata || {};
  return {ok: true, value: {
    id: s(chat.id), subject: m.subject || chat.name || null, description: m.desc || null, owner: s(m.owner),
    creation: m.creation || null, announce: !!m.announce, restrict: !!m.restrict,
    lidAddressing: !!m.isLidAddressingMode, size: ps.length, iAmAdmin: !!(await WPP.group.iAmAdmin(gid)),
    participants: ps.map(function (p) { return {id: s(p.id), isAdmin: !!p.isAdmin, isSuperAdmin: !!p.isSuperAdmin}; })
  }};
})().then(done, function (e) {
  done({ok: false, code: String((e && (e.code || e.name)) || 'Error'), message: String((e && e.message) || e)});
});
"""
ADD_MESSAGES = {200: "OK", 403: "restricted: the number cannot be added", 409: "already a member",
                421: "awaiting the admin's approval"}


class GroupWorker:
    def __init__(self, calls: WhatsAppCalls, pacer: Pacer):
        self.calls = calls
        self.settings = calls.settings
        self.pacer = pacer

    def _person(self, wid: str) -> dict:
        return groups.person_view(lambda w: lids.person(db, w, self.calls.phone_of_lid), wid)

    # -- reads ----------------------------------------------------------------------------------
    def read(self, what: str, group_id: str | None) -> dict:
        """{"ok": true, "value"} or {"ok": false, "code", "message"}: the API turns a code into a 4xx."""
        try:
            if what == "invite_code":
                code = self.calls.call_wpp("group.getInviteCode", group_id)
                value: Any = {"groupId": group_id, "inviteCode": code, "inviteLink": groups.INVITE_LINK + code}
            else:
                value = self._info(what, group_id)
        except WhatsAppError as exc:
            return {"ok": False, "code": exc.code, "message": exc.message}
        except SessionNotConnected as exc:
            return {"ok": False, "code": "not_connected", "message": str(exc)}
        except (BrowserTimeout, BrowserDied) as exc:
            return {"ok": False, "code": "no_answer", "message": str(exc)}
        return {"ok": True, "value": value}

    def _info(self, what: str, group_id: str | None) -> Any:
        if self.calls.machine.state != State.CONNECTED:
            raise SessionNotConnected(str(self.calls.machine.state))
        answer = self.calls.run(lambda driver: driver.execute_async_script(INFO, what, group_id))
        if not answer or not answer.get("ok"):
            answer = answer or {}
            raise WhatsAppError(answer.get("code") or "Error", answer.get("message") or "no answer")
        value = answer["value"]
        if what == "get":
            value["participants"] = [{**self._person(p.pop("id")), **p} for p in value["participants"]]
            value["owner"] = self._person(value["owner"]) if value.get("owner") else None
        return value

    # -- changes --------------------------------------------------------------------------------
    def run(self, operation_id: uuid.UUID) -> str:
        """Claim the row (PENDING -> RUNNING, committed before the browser acts), call WhatsApp
        paced, record DONE with the result or FAILED with wa-js's code."""
        operation = db.get(GroupOperation, operation_id, with_for_update=True)
        if operation is None or operation.status != "PENDING":
            db.rollback()
            return "skipped"
        if self.calls.machine.state != State.CONNECTED:
            return self._wait_for_connection(operation)
        operation.status = "RUNNING"
        db.commit()
        try:
            self.pacer.wait_turn()
            try:
                result, group_id = self._change(operation)
            finally:
                self.pacer.record_send()  # the call reached WhatsApp, whatever it answered
        except LeaseLost as exc:  # fenced before the page acted: the session's new owner runs it
            return self._hand_over(operation, exc)
        except PacingDeferred as exc:
            groups.fail(operation, "session_cap_reached", str(exc))
        except WhatsAppError as exc:
            groups.fail(operation, exc.code, exc.message)
        except SessionNotConnected as exc:
            groups.fail(operation, "not_connected", str(exc))
        except (BrowserTimeout, BrowserDied) as exc:  # it may have happened: say so, do not repeat it
            groups.fail(operation, "no_answer", f"outcome unknown, check the group before retrying: {exc}")
        else:
            groups.finish(operation, result, group_id)
        db.commit()
        return operation.status.lower()

    def _hand_over(self, operation: GroupOperation, exc: LeaseLost) -> str:
        log.warning("group operation %s: %s; left to the session's owner", operation.id, exc)
        operation.status = "PENDING"
        db.commit()
        dispatch.publish_group_operation(operation.id, operation.session)
        return "handed over"

    def _wait_for_connection(self, operation: GroupOperation) -> str:
        if operation.created_at < now() - timedelta(minutes=self.settings.send_max_age_minutes):
            groups.fail(operation, "not_connected", "the session was not connected within SEND_MAX_AGE_MINUTES")
            db.commit()
            return "failed"
        operation.updated_at = now()  # progress, for the outbox sweeper: this task is on its way again
        db.commit()
        dispatch.publish_group_operation(operation.id, operation.session, countdown=WAIT_FOR_CONNECTION_SECONDS)
        return "waiting"

    def _change(self, operation: GroupOperation) -> tuple[dict | None, str | None]:
        params, gid, action = operation.params, operation.group_id, operation.action
        wids = [f"{number}@c.us" for number in params.get("participants") or []]
        call = self.calls.call_wpp
        if action == "create":
            created = call("group.create", params["subject"], wids)
            gid = created["gid"]
            return {"groupId": gid, "participants": self._codes(created.get("participants"))}, gid
        if action == "add":
            return {"participants": self._codes(call("group.addParticipants", gid, wids))}, None
        if action in ("remove", "promote", "demote"):
            call(f"group.{action}Participants", gid, wids)  # all or nothing: wa-js answers nothing
            return {"participants": [{**self._person(w), "code": 200, "message": "OK"} for w in wids]}, None
        if action == "subject":
            call("group.setSubject", gid, params["subject"])
            return {"subject": params["subject"]}, None
        if action == "description":
            call("group.setDescription", gid, params["description"])
            return {"description": params["description"]}, None
        if action == "revoke_invite":
            code = call("group.revokeInviteCode", gid)
            return {"inviteCode": code, "inviteLink": groups.INVITE_LINK + code}, None
        if action == "leave":
            call("group.leave", gid)
            return None, None
        raise WhatsAppError("unknown_action", f"no group action {action!r}")

    def _codes(self, answer: dict | None) -> list[dict]:
        """create / addParticipants' `{wid: {wid, code, message?, ...}}` as a list, people by phone number."""
        rows = []
        for wid, entry in (answer or {}).items():
            entry = entry if isinstance(entry, dict) else {}
            code = int(entry.get("code") or 0)
            rows.append({**self._person(str(entry.get("wid") or wid)), "code": code,
                         "message": entry.get("message") or ADD_MESSAGES.get(code, "unknown")})
        return rows
