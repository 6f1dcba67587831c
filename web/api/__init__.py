"""One flask-smorest blueprint per resource, each module with its schemas beside it."""
import importlib

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import BaseConverter


class PhoneConverter(BaseConverter):
    """Digits with an optional plus: `/messages/<phone>` never collides with `/messages/<uuid>`."""

    regex = r"\+?[0-9]{5,20}"


# one resource per line, in the order the OpenAPI document lists them
BLUEPRINT_MODULES = [
    "health",
    "auth",
    "audit",
    "users",
    "session",
    "backups",
    "messages",
    "jobs",
    "scheduled",
    "templates",
    "validation",
    "contacts",
    "stats",
]


def register_blueprints(app: Flask, api: Api) -> None:
    app.url_map.converters["phone"] = PhoneConverter
    api.register_converter(PhoneConverter, lambda _c: {"type": "string", "pattern": PhoneConverter.regex})
    for name in BLUEPRINT_MODULES:
        api.register_blueprint(importlib.import_module(f"web.api.{name}").blp)
