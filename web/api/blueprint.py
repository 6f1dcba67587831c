"""The flask-smorest Blueprint every API module uses."""
from __future__ import annotations

import flask_smorest
import marshmallow


class Blueprint(flask_smorest.Blueprint):
    def arguments(self, schema, *args, **kwargs):
        """Given a schema class, webargs would build a new instance on every request (~150 us of
        /send's CPU); an instance holds no per-load state, so each route gets one, built here."""
        if isinstance(schema, type) and issubclass(schema, marshmallow.Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
