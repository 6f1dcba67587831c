"""An EventSource-like client and a real loopback HTTP server for the API (tests and benchmarks)."""
from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import requests
from werkzeug.serving import make_server


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback; -> its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


class SseClient:
    """Reads `text/event-stream` from a real connection, like EventSource (ids, events, comments)."""

    def __init__(self, url: str, headers: dict, last_event_id: int | None = None):
        if last_event_id is not None:
            headers = {**headers, "Last-Event-ID": str(last_event_id)}
        self.response = requests.get(url, headers=headers, stream=True, timeout=30)
        self.lines = self.response.iter_lines(decode_unicode=True)
        self.comments = 0

    def next_event(self) -> dict:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in fields:
                    return {"id": int(fields["id"]), "type": fields["event"], **json.loads(fields["data"])}
                fields = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
        raise AssertionError("the stream ended")

    def close(self) -> None:
        self.response.close()
