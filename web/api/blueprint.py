"""The flask-smorest Blueprint every API module uses."""
from __future__ import annotations

from http import HTTPStatus

import flask_smorest
import marshmallow
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from web.auth import PUBLIC
from web.storable import unstorable_strings
from web.transaction import JSON_METHODS, STATE_CHANGING



def common_errors(rule: str, methods: set[str], view) -> list[int]:
    """The errors a route may answer besides its own: the rate limiter (429), the token and role
    checks (401, 403), the body checks every JSON method gets (400, 413, 415: web._check_body), a
    change that conflicts with the current state or an Idempotency-Key still in use (409), a path
    id naming nothing (404), a `?session=` naming no usable session (404, 409), and the database or
    the session's worker away (503)."""
    statuses = [429, 503]
    if getattr(view, "_access", PUBLIC) != PUBLIC:
        statuses += [401, 403]
    if methods & JSON_METHODS:
        statuses += [400, 413, 415]
    if methods & STATE_CHANGING:
        statuses.append(409)
    if "<" in rule:
        statuses.append(404)
    if getattr(view, "_session_scoped", False):  # ?session= naming no session (404) or one switched off (409)
        statuses += [404, 409]
    return sorted(set(statuses))


def _documented(view) -> set[int]:
    doc = getattr(view, "_apidoc", {})
    return {int(code) for part in ("response", "arguments") for code in doc.get(part, {}).get("responses", {})}


# A body that is either multipart/form-data (fields plus files) or JSON: the upload routes
MULTIPART_OR_JSON = "multipart_or_json"


class _StorableStringsParser(FlaskParser):
    __location_map__ = {**FlaskParser.__location_map__, MULTIPART_OR_JSON: "load_multipart_or_json"}

    def pre_load(self, location_data, *, schema, req, location):
        """Every body and query string, before its schema: strings PostgreSQL cannot store are a
        422 naming the fields, like any other invalid value, never a 500 at the database."""
        if errors := unstorable_strings(location_data):
            raise marshmallow.ValidationError(errors)
        return location_data

    def _on_validation_error(self, error, req, schema, location, **kwargs):
        """Errors of an upload route's body are named like any other body's: `json` or `form`."""
        if location == MULTIPART_OR_JSON:
            location = "form" if req.mimetype == "multipart/form-data" else "json"
        return super()._on_validation_error(error, req, schema, location, **kwargs)

    def load_multipart_or_json(self, req, schema):
        if req.mimetype == "multipart/form-data":
            return webargs_core.MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)
        return self.load_json(req, schema)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _StorableStringsParser()
    # documented as multipart; the routes add the JSON form of the body with @blp.doc
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             MULTIPART_OR_JSON: "multipart/form-data"}

    def route(self, rule, *, parameters=None, tags=None, **options):
        """Document every error the route can answer (the OpenAPI then lists each status code, so
        an undocumented answer is a finding, not a `default`)."""
        register = super().route(rule, parameters=parameters, tags=tags, **options)
        methods = set(options.get("methods") or ["GET"])

        def decorator(view):
            documented = _documented(view)
            for status in common_errors(rule, methods, view):
                if status not in documented:
                    view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return register(view)

        return decorator

    def arguments(self, schema, *args, **kwargs):
        """Given a schema class, webargs would build a new instance on every request (~150 us of
        /send's CPU); an instance holds no per-load state, so each route gets one, built here."""
        if isinstance(schema, type) and issubclass(schema, marshmallow.Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
