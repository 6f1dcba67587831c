"""The yardstick for /send: a bare Flask endpoint that only inserts one message row and publishes
its Celery task (no auth, limiter, validation, audit or schemas). Served by gunicorn as
`tests.benchmarks.bare_app:create_app()` with the same settings as the real app. It writes the way
/send does (one statement compiled once, committed alone, on the same pool) so the ratio measures
/send's own work, not a difference in how the row reaches PostgreSQL."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from sqlalchemy import bindparam, insert
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from core.db import get_engine
from models import Message
from services import dispatch


# No bench worker serves this session: its thousands of rows must never be sent (the worker
# benchmark's session, "bench", would otherwise find them QUEUED and send them first).
SESSION = "bare"


def create_app() -> Flask:
    app = Flask(__name__)
    engine = get_engine()
    columns = ("id", "session", "direction", "status", "phone_number", "chat_id", "body", "from_me", "is_group_msg",
               "attempts", "task_id", "created_at")
    # compiled once and run as SQL, as /send runs its statement
    sql = str(insert(Message).values({c: bindparam(c, type_=Message.__table__.c[c].type) for c in columns})
              .compile(dialect=psycopg_dialect()))

    @app.get("/api/health")
    def health():
        return jsonify(ok=True)

    @app.post("/bare/send")
    def send():
        body = request.get_json()
        message_id, task_id = uuid.uuid4(), str(uuid.uuid4())
        digits = "39" + body["phoneNumber"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(sql, {
                "id": message_id, "session": SESSION, "direction": "outgoing", "status": "QUEUED",
                "phone_number": digits, "chat_id": f"{digits}@c.us", "body": body["message"], "from_me": True,
                "is_group_msg": False, "attempts": 0, "task_id": task_id, "created_at": datetime.now(timezone.utc)})
        dispatch.publish_send(message_id, SESSION, task_id)  # the publish /send uses
        return jsonify(success=True, data={"messageId": str(message_id), "status": "QUEUED"}), 202

    return app
