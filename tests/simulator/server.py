"""Flask app of the simulator: the fake WhatsApp Web page, the endpoints the page and the injected
script talk to (`/sim/page/...`), and the control API (`/sim/...`) that plays the phone and servers."""
from __future__ import annotations

import base64
import io
import threading
import time
from pathlib import Path
from typing import Any

import qrcode
from flask import Flask, Response, jsonify, request, send_file

from .model import chat_id, key_serialized
from .state import NotReady, Offline, SimError, SimState

STATIC = Path(__file__).parent / "static"
SCRIPT_PATH = STATIC / "wa-sim.js"
MEDIA_TYPES = {"chat", "image", "document", "video", "audio", "ptt", "sticker"}


class BadRequest(Exception):
    pass


def create_app(state: SimState) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/sim/static")

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(SimError)
    def sim_error(exc: SimError):
        return jsonify(error={"code": exc.code, "message": exc.message, **exc.extra}), 409

    @app.errorhandler(NotReady)
    def not_ready(exc: NotReady):
        return jsonify(error={"code": "not_ready", "message": "WhatsApp is not linked"}), 401

    @app.errorhandler(Offline)
    def offline(exc: Offline):
        return jsonify(error={"code": "offline", "message": "Connection lost"}), 503

    @app.errorhandler(404)
    def not_found(exc):
        return jsonify(error="not found"), 404

    @app.errorhandler(405)
    def not_allowed(exc):
        return jsonify(error="method not allowed"), 405

    def body() -> dict:
        data = request.get_json(silent=True)
        if data is None and request.content_length:
            raise BadRequest("body must be JSON")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    def device_arg(data: dict | None = None) -> str:
        device = (data or {}).get("device") or request.args.get("device")
        if not device or not isinstance(device, str):
            raise BadRequest("device is required")
        return device

    # ----- the page ---------------------------------------------------------------------------
    @app.get("/")
    def index():
        return send_file(STATIC / "index.html", mimetype="text/html", max_age=0)

    @app.get("/wa-sim.js")
    def script():
        return send_file(SCRIPT_PATH, mimetype="text/javascript", max_age=0)

    @app.get("/sim/page/view")
    def page_view():
        with state.lock:
            device = state.touch(device_arg(), fresh_page=request.args.get("load") == "1")
            device.user_agent = request.headers.get("User-Agent")  # tests check the browser's disguise
            return jsonify(
                device=device.view(), online=state.online, me=state.me,
                chats=state.chat_list() if device.linked else [],
            )

    @app.get("/sim/page/qr.png")
    def page_qr():
        with state.lock:
            device = state.devices.get(device_arg())
            code = device.qr["fullCode"] if device and device.qr else None
        if code is None:
            return jsonify(error="no QR code"), 404
        image = qrcode.make(code, box_size=6, border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(buffer.getvalue(), mimetype="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/sim/page/hello")
    def page_hello():
        data = body()
        with state.lock:
            device = state.touch(device_arg(data))
            return jsonify(
                generation=state.generation, seq=state.last_seq(device), linked=device.linked,
                authCode=device.qr, idle=device.idle, online=state.online, me=f"{state.me}@c.us",
                linkCode=device.pairing_code,
            )

    @app.get("/sim/page/events")
    def page_events():
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            raise BadRequest("after must be an integer")
        events = state.events_after(device_arg(), after)
        return jsonify(generation=state.generation, events=events)

    @app.post("/sim/page/qr/refresh")
    def page_qr_refresh():
        device = state.refresh_qr(device_arg(body()))
        return jsonify(authCode=device.qr)

    @app.post("/sim/page/pairing")
    def page_pairing():
        data = body()
        return jsonify(code=state.start_pairing(device_arg(data), data.get("phone")))

    @app.post("/sim/page/logout")
    def page_logout():
        state.device_logout(device_arg(body()))
        return jsonify(ok=True)

    @app.post("/sim/page/send")
    def page_send():
        data = body()
        msg_type = data.get("type") or "chat"
        to = data.get("to")
        if not isinstance(to, str) or msg_type not in MEDIA_TYPES:
            raise BadRequest("to and a known type are required")
        media = None
        if msg_type != "chat":
            media = {k: data.get(k) for k in ("mimetype", "data", "filename", "caption")}
            _check_base64(media["data"])
        text = data.get("body") if msg_type == "chat" else None
        msg = state.send(device_arg(data), to, msg_type, text, media, data.get("msgId"))
        # WhatsApp Web hands back the key of the chat the sender addressed (`@c.us`) while the chat,
        # acks and history use the LID: the send's answer may name the message either way
        addressed, key = chat_id(to), msg["id"]
        sent_as = None if addressed == key["remote"] else key_serialized(True, addressed, key["id"], key["participant"])
        return jsonify(message=msg, sentAs=sent_as)

    @app.post("/sim/page/messages")
    def page_messages():
        data = body()
        options = data.get("options") or {}
        try:
            count = int(options.get("count") or 20)
        except (TypeError, ValueError):
            raise BadRequest("count must be a number")
        msgs = state.messages(device_arg(data), str(data.get("chatId")), count,
                              "after" if options.get("direction") == "after" else "before",
                              options.get("id"), bool(options.get("onlyUnread")))
        return jsonify(messages=msgs)

    @app.post("/sim/page/read")
    def page_read():
        data = body()
        return jsonify(state.mark_read(device_arg(data), str(data.get("chatId"))))

    @app.post("/sim/page/exists")
    def page_exists():
        data = body()
        return jsonify(result=state.query_exists(device_arg(data), str(data.get("id"))))

    @app.post("/sim/page/pnlid")
    def page_pn_lid():
        data = body()
        return jsonify(result=state.pn_lid_entry(device_arg(data), str(data.get("id"))))

    @app.post("/sim/lid")
    def sim_lid():
        data = body()
        number, lid = data.get("number"), data.get("lid")
        if not isinstance(number, str) or not number.lstrip("+").isdigit() or (lid is not None and not str(lid).isdigit()):
            raise BadRequest("number (digits) is required; lid, when given, is digits")
        return jsonify(lid=state.set_lid(number, lid, bool(data.get("hidden"))))

    @app.post("/sim/lid/reveal")
    def sim_lid_reveal():
        lid = body().get("lid")
        if not isinstance(lid, str):
            raise BadRequest("lid is required")
        state.reveal_lid(lid)
        return jsonify(ok=True)

    @app.post("/sim/page/find")
    def page_find():
        """`WPP.chat.find` of a person: the chat, created if it is not in the store yet."""
        data = body()
        return jsonify(id=state.find_chat(device_arg(data), str(data.get("chatId"))))

    @app.post("/sim/page/presence")
    def page_presence():
        """`WPP.chat.markIsComposing` / `markIsPaused`: the chat's presence as the contact sees it."""
        data = body()
        duration = data.get("duration")
        bad_duration = duration is not None and not _delay(duration)
        if data.get("state") not in ("composing", "paused") or bad_duration:
            raise BadRequest("state (composing or paused) is required; duration, when given, is milliseconds")
        state.presence(device_arg(data), str(data.get("chatId")), data["state"], duration)
        return jsonify(ok=True)

    @app.post("/sim/page/group")
    def page_group():
        data = body()
        args = data.get("args") or []
        if not isinstance(data.get("op"), str) or not isinstance(args, list):
            raise BadRequest("op (string) and args (list) are required")
        return jsonify(result=state.group_call(device_arg(data), data["op"], args))

    @app.get("/sim/groups")
    def sim_groups():
        """Every group with its participants, as the servers know them."""
        with state.lock:
            return jsonify([state.groups.metadata(g) for g in state.groups.groups.values()])

    @app.post("/sim/groups")
    def sim_group_create():
        """A group someone else created (`owner`), with us among `participants` (admin if `meAdmin`)."""
        data = body()
        subject, owner, members = data.get("subject"), data.get("owner"), data.get("participants") or []
        if not isinstance(subject, str) or not _number(owner) or not isinstance(members, list) \
                or not all(_number(m) for m in members):
            raise BadRequest("subject (string), owner (number) and participants (numbers) are required")
        with state.lock:
            me = state.groups.me
            group = state.groups.new_group(subject, owner, [*members, me], [me] if data.get("meAdmin") else [])
            return jsonify(state.groups.metadata(group))

    @app.post("/sim/groups/change")
    def sim_group_change():
        """A participant change made by `author` from their phone: the pages get the event."""
        data = body()
        action, members = data.get("action"), data.get("participants")
        if action not in ("add", "remove", "promote", "demote", "leaver", "join") or not isinstance(members, list) \
                or not all(_number(m) for m in members) or not _number(data.get("author")) \
                or not isinstance(data.get("group"), str):
            raise BadRequest("group, action (add, remove, promote, demote, leaver, join), author and participants")
        with state.lock:
            return jsonify(state.groups.metadata(
                state.groups.change(data["group"], action, members, data["author"])))

    @app.post("/sim/groups/approval")
    def sim_group_approval():
        """Numbers whose addition to a group waits for an admin's approval (code 421)."""
        numbers = body().get("numbers")
        if not isinstance(numbers, list) or not all(_number(n) for n in numbers):
            raise BadRequest("numbers must be a list of phone numbers")
        with state.lock:
            state.groups.needs_approval.update(n.lstrip("+").split("@")[0] for n in numbers)
            return jsonify(numbers=sorted(state.groups.needs_approval))

    @app.post("/sim/page/contacts")
    def page_contacts():
        return jsonify(contacts=state.contact_list(device_arg(body())))

    @app.get("/sim/page/media")
    def page_media():
        msg_id = request.args.get("id", "")
        with state.lock:
            if state.find_message(msg_id) is None:
                raise SimError("msg_not_found", f"Message {msg_id} not found", id=msg_id)
            media = state.media.get(msg_id)
        if media is None:
            raise SimError("message_not_contains_media", f"Message {msg_id} not contains media", id=msg_id)
        return Response(base64.b64decode(media.get("data") or ""),
                        mimetype=media.get("mimetype") or "application/octet-stream")

    # ----- control API ------------------------------------------------------------------------
    @app.get("/sim/state")
    def sim_state():
        return jsonify(state.state())

    @app.post("/sim/scan")
    def sim_scan():
        data = body()
        try:
            device = state.scan(data.get("device"), data.get("qr"))
        except LookupError as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(device=device.id, linked=True)

    @app.post("/sim/pairing/confirm")
    def sim_pairing_confirm():
        code = body().get("code")
        if not isinstance(code, str) or not code:
            raise BadRequest("code is required")
        try:
            device = state.confirm_pairing(code)
        except LookupError as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(device=device.id, linked=True)

    @app.post("/sim/qr/refresh")
    def sim_qr_refresh():
        with state.lock:
            device = state.current_device()
            if device is None:
                return jsonify(error="no browser is showing the QR screen"), 409
            device = state.refresh_qr(device.id)
            return jsonify(qr=device.qr["fullCode"])

    @app.post("/sim/incoming")
    def sim_incoming():
        data = body()
        sender = str(data.get("from") or "").lstrip("+")
        msg_type = data.get("type") or "chat"
        if not sender.split("@")[0].isdigit() or msg_type not in MEDIA_TYPES:
            raise BadRequest("from must be a phone number and type one of " + ", ".join(sorted(MEDIA_TYPES)))
        media = data.get("media")
        if media is not None:
            if not isinstance(media, dict):
                raise BadRequest("media must be an object")
            _check_base64(media.get("data"))
        elif msg_type != "chat":
            raise BadRequest("media is required for a media message")
        group = data.get("group")
        if group is not None and (not isinstance(group, str) or not group.endswith("@g.us")):
            raise BadRequest("group must be a ...@g.us id")
        body_text = data.get("body")
        if body_text is not None and not isinstance(body_text, str):
            raise BadRequest("body must be a string")
        msg = state.incoming(sender, body_text, data.get("pushname"), msg_type, media, group)
        return jsonify(id=msg["id"]["_serialized"], message=msg)

    @app.post("/sim/ack")
    def sim_ack():
        data = body()
        ack = data.get("ack")
        if not isinstance(data.get("id"), str) or not isinstance(ack, int) or isinstance(ack, bool) \
                or not 0 <= ack <= 4:
            raise BadRequest("id (string) and ack (0..4) are required")
        try:
            msg = state.set_ack(data["id"], ack, only_up=False)
        except LookupError:
            return jsonify(error="unknown message id"), 404
        return jsonify(id=data["id"], ack=msg["ack"])

    @app.post("/sim/config")
    def sim_config():
        data = body()
        with state.lock:
            if "qrRotateSeconds" in data:
                state.qr_rotate_seconds = _positive(data["qrRotateSeconds"], "qrRotateSeconds")
            if "qrMaxRotations" in data:
                value = data["qrMaxRotations"]
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise BadRequest("qrMaxRotations must be a non-negative integer")
                state.qr_max_rotations = value
            if "autoAck" in data:
                state.auto_ack = _auto_ack(data["autoAck"])
            return jsonify(state.state())

    @app.post("/sim/not-on-whatsapp")
    def sim_not_on_whatsapp():
        numbers = body().get("numbers")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise BadRequest("numbers must be a list of strings")
        with state.lock:
            state.not_on_whatsapp.update(n.lstrip("+").split("@")[0] for n in numbers)
            return jsonify(numbers=sorted(state.not_on_whatsapp))

    @app.post("/sim/fail-next")
    def sim_fail_next():
        data = body()
        count, error = data.get("count", 1), data.get("error")
        valid_count = isinstance(count, int) and not isinstance(count, bool) and count >= 0
        if not valid_count or error not in ("rate_limit", "blocked"):
            raise BadRequest("count (>= 0) and error ('rate_limit' or 'blocked') are required")
        with state.lock:
            state.fail_next.extend([error] * count)
            return jsonify(pending=list(state.fail_next))

    @app.post("/sim/drop")
    def sim_drop():
        seconds = _positive(body().get("seconds"), "seconds")
        state.drop(seconds)
        return jsonify(online=False, seconds=seconds)

    @app.post("/sim/logout")
    def sim_logout():
        return jsonify(loggedOut=state.phone_logout())

    @app.get("/sim/chats")
    def sim_chats():
        """Chats with their unread counts (a read receipt from the gateway sets it to 0)."""
        return jsonify(state.chat_list())

    @app.get("/sim/messages")
    def sim_messages():
        with state.lock:
            return jsonify([dict(m) for m in state.received])

    @app.get("/sim/composing")
    def sim_composing():
        """The "typing..." periods the contacts saw, oldest first (`?chat=<id>` for one chat)."""
        return jsonify(state.composing(request.args.get("chat")))

    @app.get("/sim/events")
    def sim_events():
        """Incoming messages and acks handed to the pages (`?after=<seq>`), for counting against rows."""
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            raise BadRequest("after must be an integer")
        return jsonify(state.emitted(after))

    @app.post("/sim/reset")
    def sim_reset():
        state.reset()
        return jsonify(ok=True)

    return app


def _number(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip("+").split("@")[0].isdigit()


def _check_base64(data: Any) -> None:
    if not isinstance(data, str):
        raise BadRequest("media data must be a base64 string")
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        raise BadRequest("media data is not valid base64")


def _positive(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise BadRequest(f"{name} must be a positive number")
    return float(value)


def _auto_ack(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"serverMs", "deliveredMs", "readMs"}:
        raise BadRequest("autoAck must be null or {serverMs, deliveredMs, readMs}")
    for key, item in value.items():
        if item is None or _delay(item):
            continue
        if isinstance(item, list) and len(item) == 2 and all(_delay(x) for x in item) and item[0] <= item[1]:
            continue
        raise BadRequest(f"autoAck.{key} must be a non-negative number, [low, high] or null")
    return dict(value)


def _delay(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def start_ticker(state: SimState, interval: float = 0.05) -> threading.Thread:
    def run() -> None:
        while True:
            state.tick()
            time.sleep(interval)

    thread = threading.Thread(target=run, name="sim-ticker", daemon=True)
    thread.start()
    return thread
