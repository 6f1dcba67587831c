"""Every route, as SUPER_ADMIN, with hostile bodies and query strings: always a JSON envelope, never
a 500 (503 is allowed: it is the documented answer when no worker drives the session)."""
import pytest

from models.enums import Role
from tests.test_rbac import _routes

BODIES = {
    "empty object": {},
    "a list": ["a", 1, None],
    "wrong types": {"phoneNumber": 12, "message": ["x"], "recipients": "x", "name": {}, "variables": 3,
                    "sendAt": 5, "cron": [], "days": "x", "role": None, "number": True, "text": 7},
    "huge strings": {"phoneNumber": "9" * 5000, "message": "x" * 70_000, "name": "n" * 5000,
                     "text": "t" * 100, "number": "1" * 5000, "email": "a" * 5000 + "@x.it"},
    "nested junk": {"recipients": [{"phoneNumber": {"a": 1}}] * 3, "variables": {"k": {"deep": [1]}}},
}
QUERIES = ["?limit=-1", "?limit=999999999999", "?cursor=%00%ff", "?from=not-a-date&to=2020-13-45",
           "?days=0", "?days=100000", "?format=exe", "?q=" + "x" * 5000]


def _assert_envelope(response, where):
    assert response.status_code < 500 or response.status_code == 503, (where, response.status_code,
                                                                        response.get_data(as_text=True)[:300])
    if response.mimetype == "application/json" and response.status_code >= 400:
        assert response.json["success"] is False and response.json["error"]["type"], where


@pytest.mark.parametrize("case", list(BODIES))
def test_hostile_bodies_get_4xx_envelopes(app, client, auth_headers, case):
    headers = auth_headers(Role.SUPER_ADMIN)
    for endpoint, method, path, _view in _routes(app):
        if method in {"POST", "PUT", "PATCH"}:
            _assert_envelope(client.open(path, method=method, json=BODIES[case], headers=headers),
                             f"{method} {path} with {case}")


def test_hostile_query_strings_get_4xx_envelopes(app, client, auth_headers):
    headers = auth_headers(Role.SUPER_ADMIN)
    for endpoint, method, path, _view in _routes(app):
        if method == "GET":
            for query in QUERIES:
                _assert_envelope(client.get(path + query, headers=headers), f"GET {path}{query}")
