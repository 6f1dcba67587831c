"""The yardstick for /send: a bare Flask endpoint that only inserts one message row and publishes
its Celery task (no auth, limiter, validation, audit or schemas). Served by gunicorn as
`tests.benchmarks.bare_app:create_app()` with the same settings as the real app. It writes the row
in a transaction on the same pool and publishes with the same call as /send, so the ratio
measures /send's own work, not a difference in how the row reaches PostgreSQL or the broker."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from sqlalchemy import insert

from core.db import get_engine
from core.settings import get_settings
from models import Message
from services import dispatch


# No bench worker serves this session: its thousands of rows must never be sent (the worker
# benchmark's session, "bench", would otherwise find them QUEUED and send them first).
SESSION = "bare"


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SETTINGS"] = get_settings()  # the broker and database of the real app's settings
    engine = get_engine()
    statement = insert(Message.__table__)

    @app.get("/api/health")
    def health():
        return jsonify(ok=True)

    @app.post("/bare/send")
    def send():
        body = request.get_json()
        message_id, task_id = uuid.uuid4(), str(uuid.uuid4())
        digits = "39" + body["phoneNumber"]
        with engine.begin() as conn:
            conn.execute(statement, {
                "id": message_id, "session": SESSION, "direction": "outgoing", "status": "QUEUED",
                "phone_number": digits, "chat_id": f"{digits}@c.us", "body": body["message"], "from_me": True,
                "is_group_msg": False, "attempts": 0, "task_id": task_id, "created_at": datetime.now(timezone.utc)})
        dispatch.publish_send(message_id, SESSION, task_id)  # the publish /send uses
        return jsonify(success=True, data={"messageId": str(message_id), "status": "QUEUED"}), 202

    return app
