"""Logging for every process (API, workers, beat): one set-up, with personal data masked.

Phone numbers and LIDs are personal data (services/privacy.py): with LOG_MASK_PERSONAL_DATA (the
default) every log line has its runs of 8 to 15 digits - a number with or without its plus, a LID's
digits - reduced to their first three and last two digits. Message bodies are never logged.
"""
from __future__ import annotations

import logging
import re

from core.settings import Settings

_NUMBER = re.compile(r"(?<![A-Za-z0-9.-])(\+?)(\d{3})\d{3,10}(\d{2})(?![A-Za-z0-9-]|\.\d)")
FORMAT = "[%(asctime)s: %(levelname)s/%(threadName)s] %(name)s: %(message)s"


def mask(text: str) -> str:
    return _NUMBER.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(3)}", text)


class MaskPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(settings: Settings) -> None:
    """The root logger's level and format, unless the host process (gunicorn, Celery, pytest)
    configured handlers already; the mask goes on every root handler either way."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level, format=FORMAT)
    if settings.log_mask_personal_data:
        for handler in root.handlers:
            if not any(isinstance(f, MaskPersonalData) for f in handler.filters):
                handler.addFilter(MaskPersonalData())
