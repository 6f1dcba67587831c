"""One flask-smorest blueprint per resource, each module with its schemas beside it."""
from flask_smorest import Api


def register_blueprints(api: Api) -> None:
    from web.api import audit, auth, health

    for module in (health, auth, audit):
        api.register_blueprint(module.blp)
