"""The flask-smorest Blueprint every API module uses."""
from __future__ import annotations

import flask_smorest
import marshmallow
from webargs.flaskparser import FlaskParser

from web.storable import unstorable_strings


class _StorableStringsParser(FlaskParser):
    def pre_load(self, location_data, *, schema, req, location):
        """Every body and query string, before its schema: strings PostgreSQL cannot store are a
        422 naming the fields, like any other invalid value, never a 500 at the database."""
        if errors := unstorable_strings(location_data):
            raise marshmallow.ValidationError(errors)
        return location_data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _StorableStringsParser()

    def arguments(self, schema, *args, **kwargs):
        """Given a schema class, webargs would build a new instance on every request (~150 us of
        /send's CPU); an instance holds no per-load state, so each route gets one, built here."""
        if isinstance(schema, type) and issubclass(schema, marshmallow.Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
