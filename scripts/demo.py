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

    from core.db import bind_default_engine, db
    from models import User
    from models.enums import Role
    from services import accounts

    bind_default_engine()
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


def main() -> int:
    port = os.environ.get("PORT", "8000")
    base = f"http://127.0.0.1:{port}"
    email, password = ensure_admin()
    processes = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print("starting the gateway:")
        processes.start("api", str(VENV_BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2",
                        "--threads", "4", "web:create_app()")
        wait_for(f"{base}/readyz", 60, processes)
        print(f"""
API:       {base}/api/docs (OpenAPI: {base}/api/openapi.json)
login:     {email} / {password or '(the password you set before: ADMIN_PASSWORD resets it)'}
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
