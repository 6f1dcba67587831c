"""Connection commands as the API sees them: which moves make sense from which state.

The API never touches the browser: it checks the published state, queues a control command for
the session's worker (read within a second, ahead of any queued sends) and answers at once with
the state the session is moving to.
"""
from __future__ import annotations

import json
import time

from core.errors import GatewayError
from core.redis import Keys, get_redis
from models.enums import ErrorType
from services import dispatch
from services.session_state import read_state, send_control

# command -> (states it makes sense from, the state it moves to)
MOVES = {
    "initialize": ({"STOPPED", "FAILED", "LOGGED_OUT", "QR_REQUIRED", "DISCONNECTED"}, "STARTING"),
    "disconnect": ({"STARTING", "QR_REQUIRED", "PAIRING_CODE", "CONNECTED", "DISCONNECTED", "FAILED",
                    "LOGGED_OUT"}, "STOPPED"),
    "reconnect": ({"STARTING", "QR_REQUIRED", "PAIRING_CODE", "CONNECTED", "DISCONNECTED", "FAILED",
                   "STOPPED"}, "STARTING"),
    "logout": ({"STARTING", "QR_REQUIRED", "PAIRING_CODE", "CONNECTED", "DISCONNECTED", "FAILED",
                "STOPPED"}, "LOGGED_OUT"),
    "pairing_code": ({"QR_REQUIRED", "PAIRING_CODE", "LOGGED_OUT"}, "PAIRING_CODE"),
}


def status(session: str) -> dict:
    """What a caller sees of `session` (GET /api/whatsapp/status and the admin panel): the published
    state, who is linked, worker liveness and queue depths."""
    state = read_state(session)
    phone = (state["phone"] or "").split("@")[0] or None
    return {"session": session, "connected": state["state"] == "CONNECTED", "state": state["state"], "since": state["since"], "phoneNumber": phone,
            "name": state["name"], "workerAlive": state["alive"], "worker": state["worker"],
            "heartbeatAge": state["heartbeat_age"], "qrWaiting": bool(state["qr"]) and state["alive"]
            and state["state"] == "QR_REQUIRED", "qrAt": state["qr_at"],
            "queueDepth": dispatch.queue_depth(session), "browserMb": state["browser_mb"], "error": state["error"]}


def worker_state(session: str) -> dict:
    """The published state; 503 when no worker is alive to obey a command."""
    state = read_state(session)
    if not state["alive"]:
        raise GatewayError(503, f"no worker is running for session {session}: start "
                           f"`celery -A worker worker -Q wa.{session},wa.{session}.bulk -P threads -c 1`",
                           ErrorType.CONNECTION_ERROR, details={"heartbeatAge": state["heartbeat_age"]})
    return state


def command(session: str, name: str, **args) -> dict:
    """Queue `name` if it makes sense now; -> {"command", "commandId", "from", "state"}."""
    allowed, target = MOVES[name]
    state = worker_state(session)
    if state["state"] not in allowed:
        raise GatewayError(409, f"cannot {name.replace('_', ' ')} a session that is {state['state']}",
                           ErrorType.CONFLICT, details={"state": state["state"]})
    command_id = send_control(session, name, **args)
    return {"command": name, "commandId": command_id, "from": state["state"], "state": target}


def request_pairing_code(session: str, phone_number: str, timeout: float = 15.0) -> str:
    """Ask the worker for an 8-character pairing code and wait (bounded) for its answer."""
    allowed, _ = MOVES["pairing_code"]
    state = worker_state(session)
    if state["state"] not in allowed:
        raise GatewayError(409, f"no pairing code for a session that is {state['state']}", ErrorType.CONFLICT)
    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(Keys.session_events(session))  # before sending: the answer cannot be missed
    try:
        command_id = send_control(session, "pairing_code", phoneNumber=phone_number)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(left, 1.0))
            if not message:
                continue
            event = json.loads(message["data"])
            if event.get("type") == "control" and event.get("id") == command_id:
                if not event.get("ok"):
                    raise GatewayError(409, f"WhatsApp refused the pairing code: {event.get('error')}",
                                       ErrorType.CONFLICT)
                return str(event.get("result"))
    finally:
        pubsub.close()
    raise GatewayError(503, "the worker did not answer with a pairing code in time", ErrorType.CONNECTION_ERROR)
