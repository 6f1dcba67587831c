"""One flask-smorest blueprint per resource, each module with its schemas beside it."""
from flask_smorest import Api
from werkzeug.routing import BaseConverter


class PhoneConverter(BaseConverter):
    """Digits with an optional plus: `/messages/<phone>` never collides with `/messages/<uuid>`."""

    regex = r"\+?[0-9]{5,20}"


def register_blueprints(api: Api) -> None:
    api._app.url_map.converters["phone"] = PhoneConverter
    api.register_converter(PhoneConverter, lambda _c: {"type": "string", "pattern": PhoneConverter.regex})
    from web.api import audit, auth, health, jobs, messages

    for module in (health, auth, audit, messages, jobs):
        api.register_blueprint(module.blp)
