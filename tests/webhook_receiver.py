"""A real HTTP receiver on loopback that verifies every delivery with the `standardwebhooks`
library, as a customer's server would, and can be told to fail, hang or answer 410."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: dict | None
    verified: bool
    at: float  # time.time() of the arrival


@dataclass
class Receiver:
    secret: str = ""
    fail_first: int = 0  # answer 500 to this many requests first
    status: int = 204  # then this
    hang_seconds: float = 0  # before answering (a slow receiver)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks?src=gateway"

    def verified(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verified]

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers

            def do_POST(self):  # noqa: N802 - http.server's name
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    verified = True
                except WebhookVerificationError:
                    payload, verified = None, False
                with receiver.lock:
                    receiver.received.append(Received(self.headers.get("webhook-id"), payload, verified,
                                                      arrived))
                    count = len(receiver.received)
                if receiver.hang_seconds:
                    time.sleep(receiver.hang_seconds)
                status = 500 if count <= receiver.fail_first else receiver.status
                self.send_response(status)
                answer = b"not yet" if status >= 300 else b""
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
