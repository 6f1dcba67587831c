"""The request id: taken from the caller's `X-Request-ID` (or a proxy's) when it is a sane token,
else made here; answered in the same header, written on every log line of the request and carried
by every task the request queues (core/celery_app.py), so one id follows a send from the API to the
WhatsApp worker's lines."""
from __future__ import annotations

import re
import secrets

from flask import Flask, Response, g, request

from core import logs

HEADER = "X-Request-ID"
# bounded and plain: the id is copied into log lines, task headers and the answer's header
_ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")


def init_request_id(app: Flask) -> None:
    app.before_request(_bind)
    app.after_request(_answer)
    app.teardown_request(_unbind)


def request_id_from(header: str | None) -> str:
    """The caller's id if acceptable (1 to 128 of letters, digits and `._:+=/-`), else a new one:
    a bad id never fails the request, it is replaced."""
    if header and _ACCEPTED.fullmatch(header):
        return header
    return secrets.token_hex(16)  # 32 hex digits, as a UUID's; a fifth of uuid4()'s cost per request


def _bind() -> None:
    g.request_id = request_id_from(request.headers.get(HEADER))
    g.request_log_token = logs.bind(request_id=g.request_id)


def _answer(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


def _unbind(_exc=None) -> None:
    token = g.pop("request_log_token", None)
    if token is not None:
        logs.unbind(token)
