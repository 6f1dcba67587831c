"""Every route, as SUPER_ADMIN, with hostile bodies and query strings: the exact answer, always in
the JSON error envelope. What a route declares (its OpenAPI document) says what it must refuse:
a body it parses that does not match its schema, and a value of a query parameter it declares, are
a 422 VALIDATION_ERROR; input a route does not read leaves its answer as it was."""
import re
from urllib.parse import parse_qsl

import pytest

from models.enums import Role
from tests.test_rbac import _routes
from web.storable import NOT_STORABLE

BODIES = {
    "a list": ["a", 1, None],
    "wrong types": {"phoneNumber": 12, "message": ["x"], "recipients": "x", "name": {}, "variables": 3,
                    "sendAt": 5, "cron": [], "days": "x", "role": None, "number": True, "text": 7},
    "huge strings": {"phoneNumber": "9" * 5000, "message": "x" * 70_000, "name": "n" * 5000,
                     "text": "t" * 100, "number": "1" * 5000, "email": "a" * 5000 + "@x.it"},
    "nested junk": {"recipients": [{"phoneNumber": {"a": 1}}] * 3, "variables": {"k": {"deep": [1]}}},
}
QUERIES = ["?limit=-1", "?limit=999999999999", "?cursor=%00%ff", "?from=not-a-date&to=2020-13-45",
           "?days=0", "?days=100000", "?format=exe", "?q=" + "x" * 5000]
UNSTORABLE = {"a NUL character": "a\x00b", "a lone surrogate": "a\ud800b"}


def _spec_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@pytest.fixture(scope="module")
def operations(app):
    """(method, path to call, OpenAPI operation) of every route, its components beside it."""
    spec = app.test_client().get("/api/openapi.json").json
    rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    found = [(method, path, spec["paths"].get(_spec_path(rules[endpoint]), {}).get(method.lower(), {}))
             for endpoint, method, path, _view in _routes(app)]  # the Swagger UI's assets are not in it
    return found, spec["components"]["schemas"]


def _body_schema(operation: dict, schemas: dict) -> dict | None:
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return schemas[ref["$ref"].rsplit("/", 1)[1]] if "$ref" in ref else None


def _query_names(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def _assert_error(response, status: int, error_type: str | None, where: str,
                  mimetype: str = "application/json") -> None:
    assert (response.status_code, response.mimetype) == (status, mimetype), \
        (where, response.status_code, response.get_data(as_text=True)[:300])
    if status >= 400:
        assert response.json["success"] is False, where
        assert response.json["error"]["type"] == (error_type or response.json["error"]["type"]), where


@pytest.mark.parametrize("case", list(BODIES))
def test_a_body_that_does_not_match_the_schema_is_a_422(operations, client, auth_headers, case):
    headers = auth_headers(Role.SUPER_ADMIN)
    found, schemas = operations
    checked = 0
    for method, path, operation in found:
        if _body_schema(operation, schemas) is not None:
            response = client.open(path, method=method, json=BODIES[case], headers=headers)
            _assert_error(response, 422, "VALIDATION_ERROR", f"{method} {path} with {case}")
            checked += 1
    assert checked >= 15  # the routes that take a body: login, users, send, templates, ...


def test_an_empty_body_is_a_422_where_fields_are_required(operations, client, auth_headers):
    headers = auth_headers(Role.SUPER_ADMIN)
    found, schemas = operations
    required = [(method, path) for method, path, op in found
                if (_body_schema(op, schemas) or {}).get("required")]
    assert len(required) >= 10
    for method, path in required:
        _assert_error(client.open(path, method=method, json={}, headers=headers), 422, "VALIDATION_ERROR",
                      f"{method} {path} with {{}}")


@pytest.mark.parametrize("query", QUERIES)
def test_a_bad_value_of_a_declared_query_parameter_is_a_422_and_others_change_nothing(
        operations, client, auth_headers, query):
    headers = auth_headers(Role.SUPER_ADMIN)
    found, _schemas = operations
    names = {name for name, _value in parse_qsl(query[1:], keep_blank_values=True)}
    refused = 0
    for method, path, operation in found:
        if method != "GET":
            continue
        declared = _query_names(operation)
        response = client.get(path + query, headers=headers)
        if names & declared or ("%00" in query and declared):
            _assert_error(response, 422, "VALIDATION_ERROR", f"GET {path}{query}")
            refused += 1
        else:  # a parameter the route does not read: the same answer as without it
            baseline = client.get(path, headers=headers)  # JSON, or the event stream's text/event-stream
            _assert_error(response, baseline.status_code, None, f"GET {path}{query}", baseline.mimetype)
    assert refused >= 1, f"no route declares {names}"


@pytest.mark.parametrize("kind", list(UNSTORABLE))
def test_strings_postgresql_cannot_store_are_a_422_naming_each_field_of_a_body(
        operations, client, auth_headers, kind):
    """Each string property a body schema documents, holding a character PostgreSQL refuses."""
    headers = auth_headers(Role.SUPER_ADMIN)
    found, schemas = operations
    for method, path, operation in found:
        schema = _body_schema(operation, schemas)
        strings = [name for name, prop in (schema or {}).get("properties", {}).items()
                   if prop.get("type") == "string"]
        if not strings:
            continue
        body = dict.fromkeys(strings, UNSTORABLE[kind])
        response = client.open(path, method=method, json=body, headers=headers)
        where = f"{method} {path} with {kind}"
        _assert_error(response, 422, "VALIDATION_ERROR", where)
        assert response.json["error"]["details"] == {"json": dict.fromkeys(strings, [NOT_STORABLE])}, where


def test_a_nul_character_is_a_422_naming_each_query_parameter(operations, client, auth_headers):
    """(A query string cannot carry a lone surrogate: it is not UTF-8, and the URL decoder replaces it.)"""
    headers = auth_headers(Role.SUPER_ADMIN)
    found, _schemas = operations
    checked = 0
    for method, path, operation in found:
        for param in operation.get("parameters", []):
            schema = param["schema"]
            if param["in"] == "query" and schema.get("type") == "string" and "enum" not in schema:
                response = client.open(f"{path}?{param['name']}=a%00b", method=method, headers=headers)
                _assert_error(response, 422, "VALIDATION_ERROR", f"{method} {path}?{param['name']}=a%00b")
                assert response.json["error"]["details"] == {"query": {param["name"]: [NOT_STORABLE]}}
                checked += 1
    assert checked >= 5


def test_unstorable_strings_are_found_inside_lists_objects_keys_and_repeated_parameters(client, auth_headers):
    headers = auth_headers(Role.SUPER_ADMIN)
    body = {"name": "ok", "category": "support", "content": "hi {{nome}}", "tags": ["fine", "bad\x00"],
            "variables": [{"key": "nome", "default": "x\ud800"}]}
    created = client.post("/api/whatsapp/templates", json=body, headers=headers)
    _assert_error(created, 422, "VALIDATION_ERROR", "POST /templates")
    assert created.json["error"]["details"] == {"json": {"tags": {"1": [NOT_STORABLE]},
                                                         "variables": {"0": {"default": [NOT_STORABLE]}}}}

    repeated = client.get("/api/whatsapp/templates?tag=fine&tag=bad%00", headers=headers)
    _assert_error(repeated, 422, "VALIDATION_ERROR", "GET /templates?tag=&tag=")
    assert repeated.json["error"]["details"] == {"query": {"tag": [NOT_STORABLE]}}

    keyed = client.post("/api/whatsapp/extract-numbers", json={"text\x00": "3331234567"}, headers=headers)
    _assert_error(keyed, 422, "VALIDATION_ERROR", "POST /extract-numbers")
    assert keyed.json["error"]["details"] == {"json": {"_schema": [f"a key {NOT_STORABLE}"]}}
