"""One flask-smorest blueprint per resource, each module with its schemas beside it."""
import importlib

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import BaseConverter

from models.sessions import NAME_PATTERN
from services.groups import GROUP_ID_INPUT


class PhoneConverter(BaseConverter):
    """Digits with an optional plus: `/messages/<phone>` never collides with `/messages/<uuid>`."""

    regex = r"\+?[0-9]{5,20}"


class GroupIdConverter(BaseConverter):
    """A WhatsApp group id, with or without its `@g.us` (services.groups.GROUP_ID_INPUT)."""

    regex = GROUP_ID_INPUT


class SessionNameConverter(BaseConverter):
    """A WhatsApp session's name (models.sessions.NAME_PATTERN): anything else is no route (404)."""

    regex = NAME_PATTERN.strip("^$")


# one resource per line, in the order the OpenAPI document lists them
BLUEPRINT_MODULES = [
    "health",
    "auth",
    "audit",
    "users",
    "sessions",
    "session",
    "backups",
    "messages",
    "groups",
    "media",
    "jobs",
    "scheduled",
    "templates",
    "validation",
    "contacts",
    "stats",
    "privacy",
    "events",
    "webhooks",
    "alerts",
    "settings",
    "metrics",
]


def register_blueprints(app: Flask, api: Api) -> None:
    app.url_map.converters["phone"] = PhoneConverter
    app.url_map.converters["session"] = SessionNameConverter
    app.url_map.converters["group"] = GroupIdConverter
    api.register_converter(PhoneConverter, lambda _c: {"type": "string", "pattern": PhoneConverter.regex})
    api.register_converter(GroupIdConverter, lambda _c: {"type": "string", "pattern": f"^{GROUP_ID_INPUT}$"})
    api.register_converter(SessionNameConverter, lambda _c: {"type": "string", "pattern": NAME_PATTERN})
    for name in BLUEPRINT_MODULES:
        api.register_blueprint(importlib.import_module(f"web.api.{name}").blp)
