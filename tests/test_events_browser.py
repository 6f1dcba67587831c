"""Events out, end to end: a real worker driving headless Chromium on the simulator changes the
session's state, sends, gets acks and receives a message; an SSE client on a real HTTP server and
a real loopback webhook receiver (verifying with `standardwebhooks`) both get every event."""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
import requests
from flask_jwt_extended import create_access_token
from sqlalchemy.orm import Session

from core.db import db, get_engine
from core.redis import get_redis
from core.settings import get_settings
from models import User
from models.enums import Role
from services import events
from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers
from tests.sse_client import SseClient, serve
from tests.test_webhooks import LOOPBACK, start_webhook_worker, stop_worker
from tests.waiting import wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSION = get_settings().session_name
MESSAGE_TYPES = ["message.queued", "message.sending", "message.sent", "message.delivered", "message.read"]


class Collector:
    """Every event of one SSE connection, read on a thread."""

    def __init__(self, url: str, headers: dict):
        self.client = SseClient(url, headers)
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                self.events.append(self.client.next_event())
        except Exception:  # noqa: BLE001 - closed by the test
            pass

    def of(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]


def test_a_worker_on_the_simulator_feeds_the_stream_and_the_webhooks(simulator, tmp_path, committed_db):
    from web import create_app, event_stream

    event_stream.reset()  # an earlier test's truncation restarted the ids under it
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 300, "readMs": 600})
    app = create_app(replace(LOOPBACK, rate_limit_default="1000000/minute", events_stream_seconds=120))
    user = User(email=f"{uuid.uuid4().hex[:8]}@example.com", password_hash="x", role=Role.ADMIN.value)
    db.add(user)
    db.commit()
    with app.app_context():
        headers = {"Authorization": f"Bearer {create_access_token(f'user:{user.id}')}"}
    receiver = Receiver().start()
    with Session(bind=get_engine(), expire_on_commit=False) as writer:
        endpoint, receiver.secret = webhooks_endpoint(writer, receiver)
    workers, hooks = [], start_webhook_worker(tmp_path, "webhooks-browser")
    try:
        with serve(app) as base:
            with get_engine().connect() as conn:
                start = events.last_id(conn)
            stream = Collector(f"{base}/api/events?after={start}", headers)
            workers.append(launch_linked_worker(simulator, tmp_path, SESSION, 0, client,
                                               SEND_MIN_INTERVAL_MS="0", SEND_JITTER_MS="0"))
            states = wait_until(lambda: [e["data"]["state"] for e in stream.of("session.state")], 30,
                                "session.state events")
            assert "QR_REQUIRED" in states and states[-1] == "CONNECTED"
            assert stream.of("session.qr")[0]["data"]["qr"]  # an ADMIN sees the QR payload
            sent = requests.post(f"{base}/api/whatsapp/send", json={"phoneNumber": "3331112233", "message": "ev"},
                                 headers=headers, timeout=10).json()["data"]["messageId"]
            wait_until(lambda: stream.of("message.read"), 30, "message.read on the stream")
            mine = [e["type"] for e in stream.events if e["data"].get("messageId") == sent]
            assert mine == MESSAGE_TYPES
            simulator.incoming("393334445566", "hello gateway")
            received = wait_until(lambda: stream.of("message.received"), 30, "message.received on the stream")
            assert received[0]["data"]["message"] == "hello gateway"
            assert received[0]["data"]["direction"] == "incoming"

            def webhook_types():
                return sorted(r.body["type"] for r in receiver.verified()
                              if r.body["data"].get("messageId") == sent or r.body["type"] == "message.received")

            wait_until(lambda: webhook_types() == sorted([*MESSAGE_TYPES, "message.received"]), 30,
                       "the same message events at the webhook receiver, signed")
            assert all(r.verified for r in receiver.received)
            stream.client.close()
    finally:
        stop_worker(hooks)
        stop_workers(workers, client)
        receiver.stop()
        client.delete("webhooks")


def webhooks_endpoint(writer: Session, receiver: Receiver):
    from services import webhooks

    endpoint, secret = webhooks.create(writer, LOOPBACK, url=receiver.url, event_types=[
        *MESSAGE_TYPES, "message.received"], session_name=SESSION, description=None, active=True, created_by=None)
    writer.commit()
    return endpoint, secret
