"""The connection endpoints against a real worker driving headless Chromium on the simulator."""
import base64
import time

import pytest

from core.redis import get_redis
from core.settings import get_settings
from tests.fixtures.worker import forget_session, launch_worker, stop_workers
from tests.waiting import wait_until
from web.api.session import qr_png

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SESSION = get_settings().session_name


@pytest.fixture
def worker(simulator, tmp_path, app):
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    started = [launch_worker(simulator, tmp_path, SESSION, 0, client, SEND_MIN_INTERVAL_MS="1000")]
    yield started[0]
    stop_workers(started, client)



def status_of(client, headers):
    return client.get("/api/whatsapp/status", headers=headers).json["data"]


def wait_status(client, headers, *states, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        data = status_of(client, headers)
        if data["state"] in states:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"status stayed {data['state']}, wanted {states}")
        time.sleep(0.2)


def test_link_by_qr_then_disconnect_and_initialize_without_a_scan(worker, simulator, client, admin, app):
    wait_status(client, admin, "QR_REQUIRED", timeout=30)
    # the state can be published a moment before its first QR payload
    waiting = wait_until(lambda: (d := status_of(client, admin))["qrWaiting"] and d, 10, "the QR")
    assert waiting["workerAlive"] and waiting["state"] == "QR_REQUIRED"

    as_json = client.get("/api/whatsapp/qrcode", headers=admin).json["data"]
    assert as_json["qr"] == simulator.state()["qr"]
    png = base64.b64decode(as_json["image"].split(",", 1)[1])
    assert png == qr_png(simulator.state()["qr"])  # the image encodes exactly the simulator's payload
    raw = client.get("/api/whatsapp/qrcode", headers={**admin, "Accept": "image/png"})
    assert raw.mimetype == "image/png" and raw.data == png
    assert client.get("/api/whatsapp/qrcode?format=png", headers=admin).data == png

    printed = app.test_cli_runner().invoke(args=["whatsapp", "qr"])
    assert printed.exit_code == 0 and "scan within" in printed.output

    simulator.config(qrRotateSeconds=2)
    old = as_json["qr"]
    deadline = time.monotonic() + 15
    while (current := client.get("/api/whatsapp/qrcode", headers=admin).json["data"]["qr"]) == old:
        assert time.monotonic() < deadline, "the QR rotation never reached /qrcode"
        time.sleep(0.3)
    assert current == simulator.state()["qr"]

    simulator.scan()
    connected = wait_status(client, admin, "CONNECTED", timeout=30)
    assert connected["phoneNumber"] == simulator.state()["me"]
    conflict = client.get("/api/whatsapp/qrcode", headers=admin)
    assert conflict.status_code == 409
    assert client.post("/api/whatsapp/initialize", headers=admin).status_code == 409

    time.sleep(6)  # Chromium flushes localStorage to disk within 5 s; the login must be on disk
    started = time.monotonic()
    answer = client.post("/api/whatsapp/disconnect", headers=admin)
    assert answer.status_code == 202 and answer.json["data"]["state"] == "STOPPED"
    wait_status(client, admin, "STOPPED", timeout=5)
    assert time.monotonic() - started <= 5
    assert worker.profile_dir.exists() and not worker.processes()

    assert client.post("/api/whatsapp/initialize", headers=admin).json["data"]["state"] == "STARTING"
    wait_status(client, admin, "CONNECTED", timeout=40)  # no scan: the profile kept the login


def test_logout_from_the_api_wipes_the_profile_and_asks_for_a_new_qr(worker, simulator, client, admin):
    wait_status(client, admin, "QR_REQUIRED", timeout=30)
    simulator.scan()
    wait_status(client, admin, "CONNECTED", timeout=30)
    answer = client.post("/api/whatsapp/logout", headers=admin)
    assert answer.status_code == 202
    wait_status(client, admin, "QR_REQUIRED", timeout=40)
    assert not simulator.state()["linked"]
    profile_files = list(worker.profile_dir.rglob("*")) if worker.profile_dir.exists() else []
    assert not any("wa-sim" in str(path) for path in profile_files)
    assert client.get("/api/whatsapp/qrcode", headers=admin).json["data"]["qr"] == simulator.state()["qr"]


def test_control_commands_act_within_5_seconds_behind_a_long_bulk(worker, simulator, committed_client, admin):
    client = committed_client  # the worker must see the queued rows
    wait_status(client, admin, "QR_REQUIRED", timeout=30)
    simulator.scan()
    wait_status(client, admin, "CONNECTED", timeout=30)
    numbers = [f"33300{n:05d}" for n in range(40)]
    client.post("/api/whatsapp/send-bulk", json={"recipients": numbers, "message": "long bulk"}, headers=admin)
    for _ in range(5):
        client.post("/api/whatsapp/send", json={"phoneNumber": "3331234567", "message": "single"}, headers=admin)
    time.sleep(2)
    status = status_of(client, admin)
    assert status["queueDepth"]["interactive"] >= 1
    assert 50 < status["browserMb"] < 5000  # the real Chromium's memory, from the worker's heartbeat
    started = time.monotonic()
    client.post("/api/whatsapp/disconnect", headers=admin)
    wait_status(client, admin, "STOPPED", timeout=5)
    assert time.monotonic() - started <= 5


def test_link_by_pairing_code(worker, simulator, client, admin):
    wait_status(client, admin, "QR_REQUIRED", timeout=30)
    answer = client.post("/api/whatsapp/pairing-code", json={"phoneNumber": "+39 333 000 0000"}, headers=admin)
    assert answer.status_code == 200, answer.json
    code = answer.json["data"]["code"]
    assert len(code.replace("-", "")) == 8
    simulator.confirm_pairing(code)
    wait_status(client, admin, "CONNECTED", timeout=30)


def test_commands_without_a_worker_are_503_and_bad_input_is_4xx(client, admin, app):
    forget_session(get_redis(), SESSION)
    status = status_of(client, admin)
    assert status["state"] == "STOPPED" and status["workerAlive"] is False
    answer = client.post("/api/whatsapp/initialize", headers=admin)
    assert answer.status_code == 503 and "celery -A worker" in answer.json["error"]["message"]
    assert client.get("/api/whatsapp/qrcode", headers=admin).status_code == 404
    assert client.get("/api/whatsapp/qrcode?format=gif", headers=admin).status_code == 422
    assert client.post("/api/whatsapp/pairing-code", json={}, headers=admin).status_code == 422
    bad_number = client.post("/api/whatsapp/pairing-code", json={"phoneNumber": "abc"}, headers=admin)
    assert bad_number.status_code == 422 and bad_number.json["error"]["type"] == "INVALID_NUMBER"
