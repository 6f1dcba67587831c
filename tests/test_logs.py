"""Logs: one JSON object per line (LOG_FORMAT=json) with the request's id, numbers masked; the
request id taken from X-Request-ID or made, answered, and carried from the API into the task and
the WhatsApp worker's lines for that send."""
from __future__ import annotations

import io
import json
import logging
import os
import uuid

import pytest
import requests

from core import logs
from core.settings import SettingsError, load_settings
from models.enums import Role
from tests.benchmarks.harness import gunicorn
from tests.test_metrics import _token
from tests.waiting import wait_until


def json_lines(text: str) -> list[dict]:
    """The log records of a process's output (a worker also prints a banner, Chromium a warning)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def capture(settings) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logs.style(handler, settings, own=True)
    logger = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_a_json_line_has_the_bound_fields_and_numbers_masked_everywhere():
    logger, stream = capture(load_settings(log_format="json"))
    token = logs.bind(request_id="req-1", task_id="t-1", task_name="tasks.messages.send_message")
    try:
        try:
            raise ValueError("no chat for +393331234567")
        except ValueError:
            logger.exception("send to %s failed\nsecond line", "393331234567@c.us")
    finally:
        logs.unbind(token)
    logger.info("after the task")
    first, second = stream.getvalue().splitlines()  # a multi-line message and a traceback: one line
    entry = json.loads(first)
    assert entry["level"] == "ERROR" and entry["logger"] == logger.name
    assert entry["message"] == "send to 393***67@c.us failed\nsecond line"
    assert entry["request_id"] == "req-1" and entry["task_id"] == "t-1"
    assert entry["task_name"] == "tasks.messages.send_message"
    assert "ValueError: no chat for +393***67" in entry["exception"]
    assert entry["time"].endswith("Z")
    assert "3331234" not in stream.getvalue()
    assert "request_id" not in json.loads(second)  # unbound when the task ended


def test_the_mask_covers_the_bound_fields_and_can_be_turned_off():
    masked, stream = capture(load_settings(log_format="json"))
    token = logs.bind(request_id="393331234567")  # a caller may send anything as its request id
    try:
        masked.info("hello")
    finally:
        logs.unbind(token)
    assert json.loads(stream.getvalue())["request_id"] == "393***67"
    plain, stream = capture(load_settings(log_format="json", log_mask_personal_data=False))
    plain.info("to %s", "393331234567")
    assert json.loads(stream.getvalue())["message"] == "to 393331234567"


def test_text_lines_mask_the_traceback_too():
    logger, stream = capture(load_settings(log_format="text"))
    try:
        raise ValueError("no chat for 393331234567")
    except ValueError:
        logger.exception("send to %s failed", "393331234567")
    text = stream.getvalue()
    assert "send to 393***67 failed" in text and "ValueError: no chat for 393***67" in text
    assert "3331234" not in text


def test_the_format_follows_the_environment_unless_set():
    assert load_settings(log_format="").log_json is False  # a developer's terminal
    assert load_settings(environment="production", jwt_secret="x" * 40, session_backup_key="A" * 43 + "=",
                         log_format="").log_json is True
    assert load_settings(log_format="json").log_json is True
    assert load_settings(log_level="debug").log_level == "debug"  # any case, as gunicorn and Celery take it
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(log_format="xml")
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings(log_level="LOUD")


# -- the request id ------------------------------------------------------------------------------

def test_the_callers_request_id_is_answered_and_a_missing_or_bad_one_is_replaced(client, pro):
    answer = client.get("/healthz", headers={"X-Request-ID": "abc-123:x.y"})
    assert answer.headers["X-Request-ID"] == "abc-123:x.y"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    for bad in ("x" * 129, "two words", "-leading-dash", "é", ""):
        answer = client.get("/healthz", headers={"X-Request-ID": bad})
        assert answer.status_code == 200
        assert answer.headers["X-Request-ID"] != bad and len(answer.headers["X-Request-ID"]) == 32
    # errors answer it too: the caller quotes it when reporting a failure
    answer = client.get(f"/api/whatsapp/messages/{uuid.uuid4()}", headers={**pro, "X-Request-ID": "lost-1"})
    assert answer.status_code == 404 and answer.headers["X-Request-ID"] == "lost-1"


def test_every_line_written_while_serving_a_request_carries_its_id(database):
    from web import create_app

    app = create_app(load_settings(log_format="json"))

    @app.get("/probe")  # any view: the id is bound before the first view code runs
    def probe():
        logging.getLogger("web.probe").warning("inside the request for %s", "+393331234567")
        return "ok"

    logger, stream = capture(load_settings(log_format="json"))
    logging.getLogger("web.probe").addHandler(logger.handlers[0])
    try:
        answer = app.test_client().get("/probe", headers={"X-Request-ID": "probe-1"})
        logging.getLogger("web.probe").warning("after the request")
    finally:
        logging.getLogger("web.probe").removeHandler(logger.handlers[0])
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "probe-1"
    inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "probe-1" and inside["message"] == "inside the request for +393***67"
    assert "request_id" not in after  # unbound at the request's end: the thread serves others next


@pytest.mark.browser
@pytest.mark.slow
def test_a_request_id_follows_a_send_from_the_api_to_the_worker(start_worker, simulator, committed_db,
                                                                 tmp_path):
    session = f"rq{uuid.uuid4().hex[:8]}"
    simulator.reset()
    worker = start_worker(session=session, LOG_FORMAT="json", SEND_MIN_INTERVAL_MS="100", SEND_JITTER_MS="0")
    worker.wait_state("QR_REQUIRED", timeout=40)
    simulator.scan()
    worker.wait_state("CONNECTED", timeout=30)

    env = {**os.environ, "SESSION_NAME": session, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    api_log = tmp_path / "gunicorn.log"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    tag = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {_token(Role.PROFESSIONAL)}", "X-Request-ID": request_id}
    with gunicorn("web:create_app()", ["-w", "1", "--threads", "2", "-k", "gthread", "--access-logfile", "-"],
                  env, api_log) as url:
        answer = requests.post(url + "/api/whatsapp/send", headers=headers, timeout=10,
                               json={"phoneNumber": "3331239876", "message": f"ciao {tag}"})
        assert answer.status_code == 202, answer.text
        assert answer.headers["X-Request-ID"] == request_id
        message_id = answer.json()["data"]["messageId"]
        wait_until(lambda: [m for m in simulator.messages() if tag in (m.get("body") or "")], 60,
                   "the message to arrive in the simulator")

        # the API's access line, in JSON, names the request id it answered with
        def access_line() -> dict | None:
            return next((e for e in json_lines(api_log.read_text()) if e["logger"] == "gunicorn.access"
                         and e.get("path") == "/api/whatsapp/send"), None)

        access = wait_until(access_line, 10, "gunicorn's access line for the send")
        # gunicorn's own error log is JSON as well: every line of its output is an object
        assert all(line.startswith("{") for line in api_log.read_text().splitlines())
        assert access["request_id"] == request_id and access["status"] == 202 and access["method"] == "POST"

    # the worker's lines for that send carry the same id, the task's name and id, and the session
    def sent_line() -> dict | None:
        return next((e for e in json_lines(worker.log()) if e.get("request_id") == request_id
                     and e["message"].startswith(f"message {message_id} sent as")), None)

    sent = worker.wait_for(sent_line, 30, "the worker's 'sent' line with the request id")
    assert sent["task_name"] == "tasks.messages.send_message" and sent["task_id"]
    assert sent["session"] == session
    mine = [e for e in json_lines(worker.log()) if e.get("task_id") == sent["task_id"]]
    assert mine and all(e["request_id"] == request_id for e in mine)  # "succeeded" as well
    assert any("succeeded" in e["message"] for e in mine)
    assert "3331239876" not in worker.log() and "3331239876" not in api_log.read_text()
