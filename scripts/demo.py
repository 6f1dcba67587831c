"""`make demo`: start the gateway's processes on this machine, show how to use them, stop them on Ctrl-C.

Every process started here is a child in its own process group; all of them are stopped on exit,
whatever the way out (Ctrl-C, an error, a child that died).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SIM_PORT = 8099
DEMO_NUMBER = "393331234567"


class Processes:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.log_dir = ROOT / ".demo"
        self.log_dir.mkdir(exist_ok=True)

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        child = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append((name, child))
        print(f"  started {name} (pid {child.pid}, log .demo/{name}.log)")
        return child

    def check_alive(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise SystemExit(f"{name} exited with code {child.returncode}: see .demo/{name}.log")

    def stop_all(self) -> None:
        for name, child in reversed(self.children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, child in reversed(self.children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        print("stopped every process the demo started")


def wait_for(url: str, seconds: float, processes: Processes) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def ensure_admin() -> tuple[str, str | None]:
    """The first SUPER_ADMIN, from ADMIN_EMAIL / ADMIN_PASSWORD (a generated password is printed)."""
    from sqlalchemy import select

    from core.db import db
    from models import User
    from models.enums import Role
    from services import accounts

    email = accounts.normalise_email(os.environ.get("ADMIN_EMAIL", "admin@example.com"))
    password = os.environ.get("ADMIN_PASSWORD") or None
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        password = password or secrets.token_urlsafe(12)
        accounts.create_user(db, email, password, Role.SUPER_ADMIN)
        db.commit()
        return email, password
    if password:
        accounts.set_password(user, password)
        db.commit()
    return email, password


def demo_env() -> dict[str, str]:
    """The simulator stands in for WhatsApp Web unless the user pointed the worker elsewhere."""
    return {"WHATSAPP_URL": os.environ.get("WHATSAPP_URL", f"http://127.0.0.1:{SIM_PORT}/"),
            "WA_SCRIPT_PATH": os.environ.get("WA_SCRIPT_PATH", str(ROOT / "tests/simulator/static/wa-sim.js")),
            "PYTHONUNBUFFERED": "1"}


def start_all(processes: Processes, port: str, flower_port: str) -> None:
    from core.settings import get_settings

    settings, celery = get_settings(), str(VENV_BIN / "celery")
    session = settings.session_name
    env = demo_env()
    processes.start("simulator", sys.executable, "-m", "tests.simulator", "--port", str(SIM_PORT))
    processes.start("worker", celery, "-A", "worker", "worker", "-Q", f"wa.{session},wa.{session}.bulk",
                    "-P", "threads", "-c", "1", "-n", f"wa-{session}@%h", "-l", "INFO", env=env)
    processes.start("jobs", celery, "-A", "worker", "worker", "-Q", "default", "-c", "2", "-n", "jobs@%h",
                    "-l", "INFO", env=env)
    processes.start("beat", celery, "-A", "worker", "beat", "-l", "INFO",
                    "-s", str(processes.log_dir / "celerybeat-schedule"), env=env)
    # 64 threads as the image (gunicorn.conf.py): room for requests waiting with `Prefer: wait`
    processes.start("api", str(VENV_BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2",
                    "--threads", "64", "web:create_app()", env=env)
    processes.start("flower", celery, "-A", "worker", "flower", f"--port={flower_port}", "--address=127.0.0.1",
                    f"--basic-auth={settings.flower_user}:{settings.flower_password}", env=env)


def link_phone(processes: Processes, api: requests.Session, base: str) -> None:
    """Play the phone: once the session shows a QR, scan it in the simulator."""
    from core.settings import get_settings
    from services.session_state import read_state

    session, last = get_settings().session_name, None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        processes.check_alive()
        state = read_state(session)["state"]
        if state != last:
            print(f"  session {session}: {state}")
            last = state
        if state == "CONNECTED":
            return
        if state == "QR_REQUIRED" and os.environ.get("WHATSAPP_URL") is None:
            requests.post(f"http://127.0.0.1:{SIM_PORT}/sim/scan", json={}, timeout=10)
            print("  scanned the QR with the simulated phone")
            time.sleep(2)
        time.sleep(0.5)
    raise SystemExit("the session did not connect within 120 s: see .demo/worker.log")


def follow_a_message(api: requests.Session, base: str) -> None:
    answer = api.post(f"{base}/api/whatsapp/send", json={"phoneNumber": DEMO_NUMBER,
                                                          "message": "Ciao dal gateway WhatsApp!"}, timeout=10)
    answer.raise_for_status()
    message_id = answer.json()["data"]["messageId"]
    print(f"POST /api/whatsapp/send -> {answer.status_code}, message {message_id}")
    last, deadline = answer.json()["data"]["status"], time.monotonic() + 60
    print(f"  {time.strftime('%H:%M:%S')}  {last}")
    while time.monotonic() < deadline:
        status = api.get(f"{base}/api/whatsapp/messages/{message_id}", timeout=10).json()["data"]["status"]
        if status != last:
            print(f"  {time.strftime('%H:%M:%S')}  {status}")
            last = status
        if status in ("READ", "FAILED"):
            return
        time.sleep(0.2)
    print("  (no READ within 60 s: the recipient has not read it yet)")


def main() -> int:
    port, flower_port = os.environ.get("PORT", "8000"), os.environ.get("FLOWER_PORT", "5555")
    base = f"http://127.0.0.1:{port}"
    from core.settings import get_settings

    settings = get_settings()
    email, password = ensure_admin()
    processes = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C must stop everything even when started from a shell that ignores SIGINT (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print("starting the gateway:")
        start_all(processes, port, flower_port)
        wait_for(f"{base}/readyz", 60, processes)
        link_phone(processes, requests.Session(), base)
        api = requests.Session()
        if password:
            login = api.post(f"{base}/api/auth/login", json={"email": email, "password": password}, timeout=10)
            login.raise_for_status()
            api.headers["Authorization"] = f"Bearer {login.json()['data']['accessToken']}"
            print(f"POST /api/auth/login -> {login.status_code} ({login.json()['data']['role']})")
            follow_a_message(api, base)
        else:
            print("(set ADMIN_PASSWORD to let the demo log in and send a message)")
        print(f"""
panel:     {base}/admin/ (the admin panel: log in with the credentials below)
API:       {base}/api/docs (OpenAPI: {base}/api/openapi.json)
login:     {email} / {password or '(the password you set before: ADMIN_PASSWORD resets it)'}
Flower:    http://127.0.0.1:{flower_port}/ (user {settings.flower_user} / {settings.flower_password})
simulator: http://127.0.0.1:{SIM_PORT}/ (the fake WhatsApp Web the worker drives)
logs:      .demo/*.log
try:       curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' \\
             -d '{{"email": "{email}", "password": "..."}}'
Press Ctrl-C to stop everything.""")
        while True:
            processes.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print()
    finally:
        processes.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
