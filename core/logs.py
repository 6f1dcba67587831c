"""Logging for every process (API, workers, beat): one set-up, with personal data masked.

Format (LOG_FORMAT): `text` for a terminal, or `json`, one object per line for a log collector:
`time`, `level`, `logger`, `message`, `thread`, then what is known where the line was written:
`request_id` (the API request, and every task it queued), `task_id` and `task_name` (a Celery
task), `session` (the WhatsApp session a worker drives), `exception`. Those fields live in a
context variable bound by the request (web/request_id.py), the task (core/celery_app.py) or the
worker (`bind_process`), so any logger anywhere picks them up without passing them around.

Phone numbers and LIDs are personal data (services/privacy.py): with LOG_MASK_PERSONAL_DATA (the
default) every log line has its runs of 8 to 15 digits - a number with or without its plus, a LID's
digits - reduced to their first three and last two digits. Message bodies are never logged.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from contextvars import ContextVar, Token
from datetime import datetime, timezone

from core.settings import Settings

_NUMBER = re.compile(r"(?<![A-Za-z0-9.-])(\+?)(\d{3})\d{3,10}(\d{2})(?![A-Za-z0-9-]|\.\d)")
FORMAT = "[%(asctime)s: %(levelname)s/%(threadName)s] %(name)s: %(message)s"

# What is known about the work going on now (never mutated: each bind sets a new dict)
_fields: ContextVar[Mapping[str, str]] = ContextVar("log_fields", default={})
_process_fields: dict[str, str] = {}  # true for the whole process (the session a worker drives)
_lock = threading.Lock()


def mask(text: str) -> str:
    return _NUMBER.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(3)}", text)


def bind(**fields: str | None) -> Token:
    """Add fields to the log lines of the current request or task; `unbind(token)` when it ends."""
    return _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: Token) -> None:
    _fields.reset(token)


def bind_process(**fields: str | None) -> None:
    """Fields of every line this process writes from now on; None removes one."""
    with _lock:
        for name, value in fields.items():
            if value is None:
                _process_fields.pop(name, None)
            else:
                _process_fields[name] = value


def bound(name: str) -> str | None:
    """A field bound now (the request id a published task carries on)."""
    return _fields.get().get(name) or _process_fields.get(name)


def current_fields() -> dict[str, str]:
    return {**_process_fields, **_fields.get()}


class MaskPersonalData(logging.Filter):
    """The mask for text lines (and any handler the host process set up): the message and the
    traceback. JSON lines are masked whole by `JsonFormatter`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:  # rendered once here; formatters reuse exc_text
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message or a traceback are escaped)."""

    def __init__(self, mask_personal_data: bool = True):
        super().__init__()
        self.mask_personal_data = mask_personal_data

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        entry.update(current_fields())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # the whole line: message, traceback, request path and any field may hold a number
        return mask(line) if self.mask_personal_data else line


def _access_fields(atoms: Mapping) -> dict:
    """gunicorn's access-log atoms (its `access_log_format` letters) as named fields."""
    fields = {"method": atoms.get("m"), "path": atoms.get("U"), "status": _int(atoms.get("s")),
              "duration_ms": round(atoms.get("D", 0) / 1000, 3) if isinstance(atoms.get("D"), int) else None,
              "bytes": atoms.get("B"), "remote_addr": atoms.get("h")}
    request_id = atoms.get("{x-request-id}o")  # the API's answer header (web/request_id.py)
    if request_id and request_id != "-":
        fields["request_id"] = request_id
    return {k: v for k, v in fields.items() if v not in (None, "-")}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter(settings.log_mask_personal_data) if settings.log_json else logging.Formatter(FORMAT)


def style(handler: logging.Handler, settings: Settings, *, own: bool) -> None:
    """Give a handler our format (`own`: a handler we or gunicorn created) and the text mask."""
    if own:
        handler.setFormatter(formatter(settings))
    if (settings.log_mask_personal_data and not isinstance(handler.formatter, JsonFormatter)
            and not any(isinstance(f, MaskPersonalData) for f in handler.filters)):
        handler.addFilter(MaskPersonalData())


def configure_logging(settings: Settings) -> None:
    """The root logger's handler, format and level (LOG_LEVEL, LOG_FORMAT), unless the host process
    (pytest) configured handlers already; the mask goes on every root handler either way.
    Celery calls it through its `setup_logging` signal (core/celery_app.py), gunicorn's own loggers
    get the same format from gunicorn.conf.py."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        style(handler, settings, own=True)
        root.addHandler(handler)
        root.setLevel(settings.log_level.upper())
        return
    for handler in root.handlers:
        style(handler, settings, own=False)
