"""The flask-smorest Blueprint every API module uses."""
from __future__ import annotations

from functools import lru_cache

import flask_smorest
import marshmallow
from webargs.flaskparser import FlaskParser

from web.storable import unstorable_strings


@lru_cache(maxsize=None)
def _instance(schema_class: type[marshmallow.Schema]) -> marshmallow.Schema:
    return schema_class()


class _SchemaReusingParser(FlaskParser):
    """Given a schema class (`@blp.arguments(SendSchema)`), webargs builds a new instance on every
    request: ~150 us of /send's CPU. A schema instance holds no per-load state (webargs reuses the
    instances it is given across requests and threads), so each class is built once."""

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            return _instance(argmap)
        return super()._get_schema(argmap, req)

    def pre_load(self, location_data, *, schema, req, location):
        """Every body and query string, before its schema: strings PostgreSQL cannot store are a
        422 naming the fields, like any other invalid value, never a 500 at the database."""
        if errors := unstorable_strings(location_data):
            raise marshmallow.ValidationError(errors)
        return location_data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _SchemaReusingParser()
