"""The simulator's groups: the server side of `WPP.group.*` (wa-js 4.6.0, `src/group/functions/`).

Same checks and error codes as wa-js: `ensureGroup` (`chat_not_found`, `not_a_group`,
`group_you_are_not_admin`), `ensureGroupAndParticipants` (`group_participant_not_found`), and each
call's own (`participant_not_exists` on create, `not_valid_group_participants` on remove,
`group_participant_is_already_a_group_admin` / `..._is_already_not_a_group_admin`,
`you_are_not_allowed_set_group_subject` / `_description`). Participants of a number in LID mode are
LID-addressed (`<lid>@lid`), as in WhatsApp's LID-addressing-mode groups; they are found by either
form. Changes emit `group.participant_changed` to the linked pages.
"""
from __future__ import annotations

import secrets
import string
import time
from typing import TYPE_CHECKING, Any

from .model import SimError, chat_id

if TYPE_CHECKING:
    from .state import SimState

# addParticipants' per-participant codes (wa-js `messageCodes`)
ADDED, RESTRICTED, ALREADY_MEMBER, AWAITING_APPROVAL = 200, 403, 409, 421
ADD_MESSAGES = {ADDED: "OK", RESTRICTED: "Can't join this group because the number was restricted it.",
                ALREADY_MEMBER: "Can't join this group because the number is already a member of it.",
                AWAITING_APPROVAL: "Member not added, awaiting approval!"}


def _invite_code() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))


class Groups:
    """Every group the account can see, keyed by `<digits>@g.us`. Callers hold `sim.lock`."""

    def __init__(self, sim: SimState):
        self.sim = sim
        self.groups: dict[str, dict] = {}
        self.needs_approval: set[str] = set()  # numbers whose add answers 421 (admin approval)

    # ----- helpers ----------------------------------------------------------------------------
    @property
    def me(self) -> str:
        return f"{self.sim.me}@c.us"

    def _member_id(self, wid: str) -> str:
        return self.sim.lid_form(chat_id(wid))

    def _find(self, group: dict, wid: str) -> str | None:
        """The participant key of `wid` in `group`, by its phone form or its LID (findGroupParticipant)."""
        wid = chat_id(wid)
        for candidate in (wid, self._member_id(wid), self._phone_form(wid)):
            if candidate in group["participants"]:
                return candidate
        return None

    def _phone_form(self, wid: str) -> str:
        user, _, server = wid.partition("@")
        if server == "lid":
            phone = next((n for n, lid in self.sim.lids.items() if lid == user), None)
            return f"{phone}@c.us" if phone else wid
        return wid

    def ensure(self, gid: str, admin: bool = False) -> dict:
        gid = chat_id(gid)
        group = self.groups.get(gid)
        if group is None:  # assertGetChat, then the group check
            if not gid.endswith("@g.us") and self.sim.lid_form(gid) in self.sim.chats:
                raise SimError("not_a_group", f"Chat {gid} is not a group")
            raise SimError("chat_not_found", f"Chat not found for {gid}", id=gid)
        if admin and not self.i_am_admin(group):
            raise SimError("group_you_are_not_admin", f"You are not admin in {gid}")
        return group

    def i_am_admin(self, group: dict) -> bool:
        me = group["participants"].get(self.me)
        return bool(me and (me["isAdmin"] or me["isSuperAdmin"]))

    def _emit(self, group: dict, action: str, participants: list[str], author: str | None) -> None:
        self.sim._emit("group.participant_changed", {
            "author": author, "authorPushName": None, "groupId": group["id"], "action": action,
            "operation": {"leaver": "remove", "join": "add"}.get(action, action), "participants": participants,
        }, linked_only=True)

    def metadata(self, group: dict) -> dict:
        return {"id": group["id"], "subject": group["subject"], "desc": group["desc"], "owner": group["owner"],
                "creation": group["creation"], "announce": False, "restrict": group["restrict"],
                "size": len(group["participants"]), "isLidAddressingMode": group["lidMode"],
                "participants": self.participants(group)}

    def participants(self, group: dict) -> list[dict]:
        return [{"id": wid, **flags} for wid, flags in group["participants"].items()]

    # ----- the phone's side (control API) -----------------------------------------------------
    def new_group(self, subject: str, owner: str, members: list[str], admins: list[str] = ()) -> dict:
        gid = f"120363{secrets.randbelow(10**12):012d}@g.us"
        owner_id = self._member_id(owner)
        group = {"id": gid, "subject": subject, "desc": None, "owner": owner_id, "creation": int(time.time()),
                 "restrict": False, "inviteCode": _invite_code(),
                 "lidMode": any(self._member_id(m).endswith("@lid") for m in [owner, *members]),
                 "participants": {owner_id: {"isAdmin": True, "isSuperAdmin": True}}}
        admin_ids = {self._member_id(a) for a in admins}
        for member in members:
            wid = self._member_id(member)
            group["participants"].setdefault(wid, {"isAdmin": wid in admin_ids, "isSuperAdmin": False})
        self.groups[gid] = group
        chat = self.sim._chat(gid)
        chat.name = subject
        return group

    def change(self, gid: str, action: str, members: list[str], author: str) -> dict:
        """Someone (`author`) changes the group from their phone: the pages see the event."""
        group = self.ensure(gid)
        ids = [self._member_id(m) for m in members]
        for wid in ids:
            if action == "add":
                group["participants"].setdefault(wid, {"isAdmin": False, "isSuperAdmin": False})
            elif action in ("remove", "leaver"):
                group["participants"].pop(self._find(group, wid) or wid, None)
            elif action in ("promote", "demote") and (key := self._find(group, wid)):
                group["participants"][key]["isAdmin"] = action == "promote"
        self._emit(group, action, ids, self._member_id(author))
        return group

    # ----- WPP.group.* ------------------------------------------------------------------------
    def create(self, name: str, ids: list[str]) -> dict:
        wids = [chat_id(i) for i in ids]
        for wid in wids:
            if wid.split("@")[0] in self.sim.not_on_whatsapp:
                raise SimError("participant_not_exists", "Participant not exists", id=wid)
        members = [w for w in wids if w != self.me]
        group = self.new_group(name, self.me, members)
        return {"gid": group["id"],
                "participants": {w: {"wid": w, "code": ADDED, "invite_code": None, "invite_code_exp": None}
                                 for w in members}}

    def all_groups(self) -> list[dict]:
        return [{"id": g["id"], "name": g["subject"], "isGroup": True, "groupMetadata": self.metadata(g)}
                for g in self.groups.values() if self.me in g["participants"]]

    def add(self, gid: str, ids: list[str]) -> dict:
        group = self.ensure(gid, admin=True)
        result, added = {}, []
        for raw in ids:
            wid = chat_id(raw)
            user = wid.split("@")[0]
            if self._find(group, wid):
                code = ALREADY_MEMBER
            elif user in self.sim.not_on_whatsapp:
                code = RESTRICTED
            elif user in self.needs_approval:
                code = AWAITING_APPROVAL
            else:
                code = ADDED
                member = self._member_id(wid)
                group["participants"][member] = {"isAdmin": False, "isSuperAdmin": False}
                added.append(member)
            result[wid] = {"wid": wid, "code": code, "message": ADD_MESSAGES[code], "invite_code": None,
                           "invite_code_exp": None}
        if added:
            self._emit(group, "add", added, self.me)
        return result

    def _members(self, group: dict, ids: list[str]) -> list[str]:
        keys = []
        for raw in ids:
            key = self._find(group, raw)
            if key is None:
                raise SimError("group_participant_not_found",
                               f"Group {group['id']}: Participant '{chat_id(raw)}' not found")
            keys.append(key)
        return keys

    def remove(self, gid: str, ids: list[str]) -> None:
        group = self.ensure(gid, admin=True)
        valid = [raw for raw in ids if self._find(group, raw)]
        if not valid:
            raise SimError("not_valid_group_participants", f"No valid participants found for the group {gid}")
        keys = self._members(group, valid)
        for key in keys:
            del group["participants"][key]
        self._emit(group, "remove", keys, self.me)

    def promote(self, gid: str, ids: list[str], to_admin: bool) -> None:
        group = self.ensure(gid, admin=True)
        keys = self._members(group, ids)
        for key in keys:
            if group["participants"][key]["isAdmin"] == to_admin:
                code = "group_participant_is_already_a_group_admin" if to_admin else \
                    "group_participant_is_already_not_a_group_admin"
                state = "already a group admin" if to_admin else "already not a group admin"
                raise SimError(code, f"Group {group['id']}: Group participant is {state}")
        for key in keys:
            group["participants"][key]["isAdmin"] = to_admin
        self._emit(group, "promote" if to_admin else "demote", keys, self.me)

    def invite_code(self, gid: str, revoke: bool = False) -> str:
        group = self.ensure(gid, admin=True)
        if revoke:
            group["inviteCode"] = _invite_code()
        return group["inviteCode"]

    def leave(self, gid: str) -> None:
        group = self.ensure(gid)
        if group["participants"].pop(self.me, None) is not None:
            self._emit(group, "leaver", [self.me], self.me)

    def set_text(self, gid: str, field: str, value: str) -> bool:
        group = self.ensure(gid)
        if self.me not in group["participants"] or (group["restrict"] and not self.i_am_admin(group)):
            name = "subject" if field == "subject" else "description"
            raise SimError(f"you_are_not_allowed_set_group_{name}",
                           f"You are not allowed to set group {name} in {group['id']}", groupId=group["id"])
        group[field] = value
        if field == "subject":
            self.sim._chat(group["id"]).name = value
        return True

    def call(self, op: str, args: list[Any]) -> Any:
        """One `WPP.group.<op>(...args)` from a page (the page has checked the device is linked)."""
        def text(index: int) -> str:
            if len(args) <= index or not isinstance(args[index], str):
                raise SimError("invalid_argument", f"{op}: argument {index + 1} must be a string")
            return args[index]

        def ids() -> list[str]:
            value = args[1] if len(args) > 1 else None
            value = value if isinstance(value, list) else [value]
            if not value or not all(isinstance(v, str) and v for v in value):
                raise SimError("invalid_wid", f"Invalid WID value for {value}")
            return value

        table = {
            "create": lambda: self.create(text(0), ids()),
            "getAllGroups": self.all_groups,
            "getParticipants": lambda: self.participants(self.ensure(text(0))),
            "find": lambda: self.metadata(self.ensure(text(0))),
            "iAmAdmin": lambda: self.i_am_admin(self.ensure(text(0))),
            "addParticipants": lambda: self.add(text(0), ids()),
            "removeParticipants": lambda: self.remove(text(0), ids()),
            "promoteParticipants": lambda: self.promote(text(0), ids(), True),
            "demoteParticipants": lambda: self.promote(text(0), ids(), False),
            "getInviteCode": lambda: self.invite_code(text(0)),
            "revokeInviteCode": lambda: self.invite_code(text(0), revoke=True),
            "leave": lambda: self.leave(text(0)),
            "setSubject": lambda: self.set_text(text(0), "subject", text(1)),
            "setDescription": lambda: self.set_text(text(0), "desc", text(1)),
        }
        if op not in table:
            raise SimError("unknown_function", f"WPP.group.{op} is not simulated")
        return table[op]()
