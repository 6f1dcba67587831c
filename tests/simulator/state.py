"""The simulator's world: the phone's account, the linked browsers (devices), chats and the server clock.

Everything is guarded by one lock; a ticker thread calls `tick()` to rotate QR codes, end connection
drops and fire scheduled acks. Events for a browser are appended to its device's queue and drained
by the injected script (`/sim/page/events`).
"""
from __future__ import annotations

import base64
import itertools
import random
import re
import threading
import time
from typing import Any, Callable

from . import codes
from .groups import Groups
from .model import Chat, Device, NotReady, Offline, SimError, chat_id, key_serialized

DEFAULT_AUTO_ACK = {"serverMs": 50, "deliveredMs": 500, "readMs": 1500}
SEEN_WINDOW = 5.0  # a device polled within this many seconds is "showing" its page
MAX_EVENTS = 2000
MAX_LOG = 50_000  # entries of the emission log kept (a soak of a few hundred rounds writes ~2,000)
LOGGED = ("chat.new_message", "chat.msg_ack_change")
SEND_ERRORS = {
    "rate_limit": ("rate_overlimit", "Rate overlimit: too many messages sent (simulated)"),
    "blocked": ("blocked", "This account is blocked from sending messages (simulated)"),
}


class SimState:
    def __init__(self, me: str, qr_rotate_seconds: float = 20, qr_max_rotations: int = 5):
        self.lock = threading.RLock()
        self.defaults = {"me": me, "qrRotateSeconds": qr_rotate_seconds, "qrMaxRotations": qr_max_rotations}
        self.seq = itertools.count(1)
        self.generation = 0
        self._init()

    def _init(self) -> None:
        self.me = self.defaults["me"]
        self.qr_rotate_seconds = float(self.defaults["qrRotateSeconds"])
        self.qr_max_rotations = int(self.defaults["qrMaxRotations"])
        self.auto_ack: dict | None = dict(DEFAULT_AUTO_ACK)
        self.devices: dict[str, Device] = {}
        self.chats: dict[str, Chat] = {}
        self.media: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}
        self.received: list[dict] = []
        self.not_on_whatsapp: set[str] = set()
        # LID mode per number (WhatsApp's LID migration): phone digits -> LID digits; the chat, its
        # messages, acks and incoming `from` use `<lid>@lid`. A hidden LID's phone is not told to the
        # page (getPnLidEntry) until revealed, as when WhatsApp Web has not learnt the mapping yet.
        self.lids: dict[str, str] = {}
        self.hidden_lids: set[str] = set()
        self.fail_next: list[str] = []
        self.online = True
        self.drop_until = 0.0
        self.deferred: list[tuple[str | None, str, Any, bool]] = []
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.log: dict[int, dict] = {}  # seq -> message event handed to a device (see `emitted`)
        self.typing: list[dict] = []  # "typing..." periods as the contacts saw them (see `composing`)
        self.groups = Groups(self)

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self._init()

    # ----- events -------------------------------------------------------------------------------
    def _push(self, device: Device, name: str, payload: Any = None) -> None:
        seq = next(self.seq)
        device.events.append((seq, name, payload))
        del device.events[:-MAX_EVENTS]
        if name in LOGGED:
            self._log(seq, device, name, payload)

    def _log(self, seq: int, device: Device, name: str, payload: Any) -> None:
        """Record a message event for `emitted`: when the server queued it (`at`) and when the page
        fetched it (`pageAt`; the page emits it to its listeners right after that fetch)."""
        if name == "chat.msg_ack_change":
            ids, ack = [key["_serialized"] for key in payload["ids"]], payload["ack"]
        else:
            ids, ack = [payload["id"]["_serialized"]], None
        self.log[seq] = {"seq": seq, "device": device.id, "name": name, "ids": ids, "ack": ack,
                         "at": time.time(), "pageAt": None}
        if len(self.log) > MAX_LOG:
            del self.log[min(self.log)]

    def emitted(self, after: int = 0) -> list[dict]:
        """Message events (incoming messages, acks) handed to pages, oldest first."""
        with self.lock:
            return [dict(entry) for seq, entry in sorted(self.log.items()) if seq > after]

    def _emit(self, name: str, payload: Any = None, device: Device | None = None,
              linked_only: bool = False) -> None:
        """Send an event to one device or to all (linked) devices; held back while offline."""
        if not self.online and name != "conn.online":
            self.deferred.append((device.id if device else None, name, payload, linked_only))
            return
        targets = [device] if device else [d for d in self.devices.values() if d.linked or not linked_only]
        for target in targets:
            self._push(target, name, payload)

    def events_after(self, device_id: str, after: int) -> list[dict]:
        with self.lock:
            device = self.touch(device_id)
            events = [{"seq": s, "name": n, "payload": p} for s, n, p in device.events if s > after]
            fetched = time.time()
            for event in events:
                entry = self.log.get(event["seq"])
                if entry is not None and entry["pageAt"] is None:
                    entry["pageAt"] = fetched
            return events

    def last_seq(self, device: Device) -> int:
        return device.events[-1][0] if device.events else 0

    # ----- devices and QR -----------------------------------------------------------------------
    def touch(self, device_id: str, fresh_page: bool = False) -> Device:
        """Record that a browser is polling; a page load (or a long absence) gets a fresh QR."""
        now = time.time()
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = Device(id=device_id)
        stale = now - device.last_seen > SEEN_WINDOW * 2
        device.last_seen = now
        needs_qr = device.qr is None and not device.idle
        reload_idle = device.idle and (fresh_page or stale)
        if not device.linked and (needs_qr or reload_idle):
            self._new_qr(device, now)
        return device

    def _new_qr(self, device: Device, now: float, emit: bool = True) -> None:
        device.qr, device.qr_since, device.rotations, device.idle = codes.auth_code(), now, 0, False
        if emit:
            self._emit("conn.auth_code_change", device.qr, device)

    def refresh_qr(self, device_id: str) -> Device:
        with self.lock:
            device = self.touch(device_id)
            if device.linked:
                raise SimError("already_authenticated", "The device is already linked")
            self._new_qr(device, time.time())
            return device

    def current_device(self) -> Device | None:
        """The unlinked device most recently seen, i.e. the one whose screen the phone would scan."""
        now = time.time()
        showing = [d for d in self.devices.values() if not d.linked and now - d.last_seen <= SEEN_WINDOW]
        return max(showing, key=lambda d: d.last_seen, default=None)

    def _link(self, device: Device) -> None:
        device.linked, device.qr, device.idle = True, None, False
        device.pairing_phone = device.pairing_code = None
        self._push(device, "conn.auth_code_change", None)
        self._push(device, "conn.authenticated")
        self._push(device, "conn.main_ready")

    def scan(self, device_id: str | None = None, qr: str | None = None) -> Device:
        with self.lock:
            candidates = [d for d in self.devices.values() if not d.linked and d.qr and not d.idle]
            if qr:
                device = next((d for d in candidates if d.qr["fullCode"] == qr), None)
            elif device_id:
                device = next((d for d in candidates if d.id == device_id), None)
            else:
                device = self.current_device()
                device = device if device in candidates else None
            if device is None:
                raise LookupError("no QR code is being shown")
            self._link(device)
            return device

    def start_pairing(self, device_id: str, phone: str) -> str:
        with self.lock:
            device = self.touch(device_id)
            if not phone or not isinstance(phone, str):
                raise SimError("send_the_phone_number_to_connect",
                               "Can't get code for without phone number param")
            if device.linked:
                raise SimError(
                    "cannot_get_code_for_already_authenticated",
                    "Can't get code for already authenticated user",
                )
            if device.pairing_phone == phone and device.pairing_code:
                return device.pairing_code
            device.pairing_phone, device.pairing_code = phone, codes.pairing_code()
            self._emit("conn.link_code_change", device.pairing_code, device)
            return device.pairing_code

    def confirm_pairing(self, code: str) -> Device:
        with self.lock:
            wanted = codes.normalize_code(code)
            for device in self.devices.values():
                if not device.linked and device.pairing_code and device.pairing_code == wanted:
                    self._link(device)
                    return device
            raise LookupError("no device shows this pairing code")

    def unlink(self, device: Device) -> None:
        device.linked = False
        self._push(device, "conn.logout")
        self._push(device, "conn.require_auth")
        self._new_qr(device, time.time(), emit=False)
        self._push(device, "conn.auth_code_change", device.qr)

    def phone_logout(self) -> int:
        with self.lock:
            linked = [d for d in self.devices.values() if d.linked]
            for device in linked:
                self.unlink(device)
            return len(linked)

    def device_logout(self, device_id: str) -> None:
        with self.lock:
            device = self.touch(device_id)
            if device.linked:
                self.unlink(device)

    # ----- clock ------------------------------------------------------------------------------
    def tick(self) -> None:
        with self.lock:
            now = time.time()
            if not self.online and now >= self.drop_until:
                self.online = True
                self._emit("conn.online", True)
                deferred, self.deferred = self.deferred, []
                for device_id, name, payload, linked_only in deferred:
                    target = self.devices.get(device_id) if device_id else None
                    if device_id is None or target is not None:
                        self._emit(name, payload, target, linked_only)
            for device in self.devices.values():
                away = now - device.last_seen > SEEN_WINDOW * 2
                if device.linked or device.idle or device.qr is None or away:
                    continue
                if now - device.qr_since >= self.qr_rotate_seconds:
                    if device.rotations >= self.qr_max_rotations:
                        device.qr, device.idle = None, True
                        self._emit("conn.qrcode_idle", None, device)
                    else:
                        rotations = device.rotations + 1
                        self._new_qr(device, now)
                        device.rotations = rotations
            if self.online:
                due = [t for t in self.timers if t[0] <= now]
                self.timers = [t for t in self.timers if t[0] > now]
                for _, action in sorted(due, key=lambda t: t[0]):
                    action()

    def drop(self, seconds: float) -> None:
        with self.lock:
            self.drop_until = max(self.drop_until, time.time() + seconds)
            if self.online:
                self.online = False
                self._emit("conn.online", False)

    # ----- messages ---------------------------------------------------------------------------
    def set_lid(self, number: str, lid: str | None = None, hidden: bool = False) -> str:
        with self.lock:
            number = number.lstrip("+").split("@")[0]
            lid = lid or self.lids.get(number) or str(int(number[::-1]) * 7 + 10**14)[:15]
            self.lids[number] = lid
            (self.hidden_lids.add if hidden else self.hidden_lids.discard)(lid)
            return f"{lid}@lid"

    def reveal_lid(self, lid: str) -> None:
        with self.lock:
            self.hidden_lids.discard(lid.split("@")[0])

    def lid_form(self, cid: str) -> str:
        """The id WhatsApp keys a person's chat by: `<lid>@lid` for a number in LID mode."""
        user, _, server = cid.partition("@")
        return f"{self.lids[user]}@lid" if server == "c.us" and user in self.lids else cid

    def pn_lid_entry(self, device_id: str, cid: str) -> dict:
        with self.lock:
            self._linked_device(device_id)
            user, _, server = chat_id(cid).partition("@")
            if server == "c.us":
                lid = self.lids.get(user)
                return {"lid": f"{lid}@lid" if lid else None, "phoneNumber": f"{user}@c.us"}
            if server == "lid":
                phone = next((n for n, lid in self.lids.items() if lid == user), None)
                known = phone is not None and user not in self.hidden_lids
                return {"lid": f"{user}@lid", "phoneNumber": f"{phone}@c.us" if known else None}
            raise SimError("invalid_wid", f"Invalid WID value for {cid} - getPnLidEntry only supports @c.us and @lid.")

    def _chat(self, cid: str) -> Chat:
        if cid not in self.chats:
            self.chats[cid] = Chat(id=cid)
        return self.chats[cid]

    def get_chat(self, cid: str) -> Chat:
        chat = self.chats.get(self.lid_form(chat_id(cid)))
        if chat is None:
            raise SimError("chat_not_found", f"Chat not found for {cid}", id=cid)
        return chat

    def find_chat(self, device_id: str, cid: str) -> str:
        """`WPP.chat.find`: the chat's id (its LID form for a number in LID mode), created if new, as
        wa-js's findOrCreateLatestChat does; a number not on WhatsApp has no chat to find."""
        with self.lock:
            self._linked_device(device_id)
            addressed = chat_id(cid)
            if addressed.endswith("@c.us") and addressed.split("@")[0] in self.not_on_whatsapp:
                raise SimError("chat_not_found", f"Chat not found for {addressed}", id=addressed)
            return self._chat(self.lid_form(addressed)).id

    def presence(self, device_id: str, cid: str, state: str, duration_ms: float | None) -> None:
        """`markIsComposing` (state "composing") opens a typing period of the chat, `markIsPaused`
        closes it. Like wa-js's assertGetChat, only a chat in the store can be marked."""
        with self.lock:
            self._linked_device(device_id)
            chat = self.get_chat(cid)
            now = time.time()
            current = next((p for p in reversed(self.typing)
                            if p["chatId"] == chat.id and p["endedAt"] is None), None)
            if current is not None:  # composing again, or paused: the period so far ends here
                current["endedAt"] = now
            if state == "composing":
                self.typing.append({"chatId": chat.id, "device": device_id, "startedAt": now, "endedAt": None,
                                    "durationMs": duration_ms})

    def composing(self, cid: str | None = None) -> list[dict]:
        with self.lock:
            wanted = self.lid_form(chat_id(cid)) if cid else None
            return [dict(p) for p in self.typing if wanted is None or p["chatId"] == wanted]

    def _linked_device(self, device_id: str) -> Device:
        device = self.touch(device_id)
        if not device.linked:
            raise NotReady()
        return device

    def send(self, device_id: str, to: str, msg_type: str, body: str | None, media: dict | None,
             msg_id: str | None = None) -> dict:
        """The server side of a send: checks, records, schedules acks. Returns the message dict."""
        with self.lock:
            self._linked_device(device_id)
            if not self.online:
                raise Offline()
            addressed = chat_id(to)
            user = addressed.split("@")[0]
            if addressed.endswith("@c.us") and user in self.not_on_whatsapp:
                raise SimError("chat_not_found", f"Chat not found for {addressed}", id=addressed)
            cid = self.lid_form(addressed)
            if self.fail_next:
                code, message = SEND_ERRORS[self.fail_next.pop(0)]
                raise SimError(code, message, id=cid)
            now = time.time()
            if not msg_id or not re.fullmatch(r"[0-9A-F]{8,32}", msg_id) or self._known_id(msg_id):
                msg_id = codes.message_id()
            me = f"{self.me}@c.us"
            participant = me if cid.endswith("@g.us") else None
            key = {"fromMe": True, "remote": cid, "id": msg_id, "participant": participant,
                   "_serialized": key_serialized(True, cid, msg_id, participant)}
            msg = {"id": key, "from": me, "to": cid, "author": participant, "body": body, "type": msg_type,
                   "t": int(now), "self": "out", "ack": 0, "isNewMsg": True, "local": True,
                   "isGroupMsg": cid.endswith("@g.us"), "notifyName": ""}
            if media:
                msg.update({k: media.get(k) for k in ("caption", "filename", "mimetype")})
                msg["size"] = len(base64.b64decode(media.get("data") or ""))
                self.media[key["_serialized"]] = media
            chat = self._chat(cid)
            chat.msgs.append(msg)
            self.contacts.setdefault(cid, {"id": cid, "pushname": None})
            self.received.append({
                "id": key["_serialized"], "to": user, "chatId": cid, "body": body, "type": msg_type,
                "caption": msg.get("caption"), "filename": msg.get("filename"),
                "mimetype": msg.get("mimetype"), "receivedAt": now, "ack": 0, "device": device_id,
            })
            self._schedule_acks(key["_serialized"], now)
            return msg

    def _schedule_acks(self, serialized: str, now: float) -> None:
        config = self.auto_ack
        if config is None:
            self.set_ack(serialized, 1)
            return
        for ack, name in ((1, "serverMs"), (2, "deliveredMs"), (3, "readMs")):
            delay = config.get(name)
            if isinstance(delay, list):  # [low, high]: a random delay per message
                delay = random.uniform(*delay)
            if delay is not None:
                self.timers.append((now + float(delay) / 1000, lambda ack=ack: self.set_ack(serialized, ack)))

    def _known_id(self, msg_id: str) -> bool:
        return any(m["id"]["id"] == msg_id for chat in self.chats.values() for m in chat.msgs)

    def find_message(self, serialized: str) -> dict | None:
        for chat in self.chats.values():
            for msg in chat.msgs:
                if msg["id"]["_serialized"] == serialized:
                    return msg
        return None

    def set_ack(self, serialized: str, ack: int, only_up: bool = True) -> dict:
        with self.lock:
            msg = self.find_message(serialized)
            if msg is None:
                raise LookupError(serialized)
            if only_up and msg["ack"] >= ack:
                return msg
            msg["ack"] = ack
            for record in self.received:
                if record["id"] == serialized:
                    record["ack"] = ack
            key = msg["id"]
            payload = {"ack": ack, "chat": key["remote"], "ids": [key]}
            if key["remote"].endswith("@g.us"):
                payload["sender"] = key["participant"]
            self._emit("chat.msg_ack_change", payload, linked_only=True)
            return msg

    def incoming(self, sender: str, body: str | None, pushname: str | None, msg_type: str,
                 media: dict | None, group: str | None) -> dict:
        with self.lock:
            author = self.lid_form(chat_id(sender))
            cid = chat_id(group) if group else author
            msg_id = codes.message_id()
            participant = author if group else None
            key = {"fromMe": False, "remote": cid, "id": msg_id, "participant": participant,
                   "_serialized": key_serialized(False, cid, msg_id, participant)}
            msg = {"id": key, "from": cid, "to": f"{self.me}@c.us", "author": participant, "body": body,
                   "type": msg_type, "t": int(time.time()), "notifyName": pushname or "", "self": "in",
                   "ack": 1, "isNewMsg": True, "isGroupMsg": bool(group)}
            if media:
                msg.update({k: media.get(k) for k in ("caption", "filename", "mimetype")})
                msg["size"] = len(base64.b64decode(media.get("data") or ""))
                if msg_type != "chat":
                    msg["body"] = None
                self.media[key["_serialized"]] = media
            chat = self._chat(cid)
            chat.msgs.append(msg)
            chat.unread += 1
            if pushname and not group:
                chat.name = chat.name or pushname
            contact = self.contacts.setdefault(author, {"id": author, "pushname": None})
            contact["pushname"] = pushname or contact["pushname"]
            self._emit("chat.new_message", msg, linked_only=True)
            return msg

    def messages(self, device_id: str, cid: str, count: int, direction: str, anchor: str | None,
                 only_unread: bool) -> list[dict]:
        with self.lock:
            self._linked_device(device_id)
            chat = self.get_chat(cid)
            msgs = chat.msgs
            if only_unread:
                if chat.unread <= 0:
                    return []
                count = chat.unread if count < 0 else min(count, chat.unread)
            if anchor:
                index = next((i for i, m in enumerate(msgs) if m["id"]["_serialized"] == anchor), None)
                if index is None:
                    raise SimError("msg_not_found", f"Message {anchor} not found", id=anchor)
                msgs = msgs[index + 1:] if direction == "after" else msgs[:index]
                if count >= 0:
                    msgs = msgs[:count] if direction == "after" else msgs[max(0, len(msgs) - count):]
            elif count >= 0:
                msgs = msgs[max(0, len(msgs) - count):]
            return list(msgs)

    def mark_read(self, device_id: str, cid: str) -> dict:
        with self.lock:
            self._linked_device(device_id)
            chat = self.get_chat(cid)
            unread, chat.unread = chat.unread, 0
            return {"wid": chat.id, "unreadCount": unread}

    def query_exists(self, device_id: str, cid: str) -> dict | None:
        with self.lock:
            self._linked_device(device_id)
            cid = chat_id(cid)
            if cid.split("@")[0] in self.not_on_whatsapp or not cid.endswith(("@c.us", "@lid")):
                return None
            lid = self.lid_form(cid)
            return {"wid": cid, "biz": False, **({"lid": lid} if lid != cid else {})}

    def group_call(self, device_id: str, op: str, args: list) -> Any:
        """`WPP.group.<op>(...args)` (and `WPP.chat.find` of a group) from a linked page."""
        with self.lock:
            self._linked_device(device_id)
            return self.groups.call(op, args)

    def contact_list(self, device_id: str) -> list[dict]:
        with self.lock:
            self._linked_device(device_id)
            return [dict(c) for c in self.contacts.values()]

    def state(self) -> dict:
        with self.lock:
            current = self.current_device()
            pairing = next((d.pairing_code for d in sorted(self.devices.values(), key=lambda d: -d.last_seen)
                            if d.pairing_code and not d.linked), None)
            return {
                "qr": current.qr["fullCode"] if current and current.qr else None,
                "qrIdle": bool(current and current.idle),
                "linked": any(d.linked for d in self.devices.values()),
                "devices": [d.view() for d in self.devices.values()],
                "online": self.online,
                "me": self.me,
                "pairingCode": pairing,
                "autoAck": self.auto_ack,
                "qrRotateSeconds": self.qr_rotate_seconds,
                "qrMaxRotations": self.qr_max_rotations,
            }

    def chat_list(self) -> list[dict]:
        with self.lock:
            rows = []
            for chat in self.chats.values():
                last = chat.msgs[-1] if chat.msgs else None
                preview = (last.get("body") or last.get("caption") or f"[{last['type']}]") if last else ""
                rows.append({"id": chat.id, "name": chat.name or chat.id.split("@")[0], "unread": chat.unread,
                             "last": preview,
                             "t": last["t"] if last else 0, "fromMe": bool(last and last["id"]["fromMe"])})
            return sorted(rows, key=lambda r: -r["t"])
