"""Rate limits on real Redis: per caller with a token, per IP without, login apart, headers on
every answer, the 429 envelope with Retry-After, and a bad rate refused at start-up."""
from __future__ import annotations

import time

import pytest

from core.settings import SettingsError, get_settings, load_settings, parse_rate
from models.enums import Role
from tests.fixtures.web import _client


@pytest.fixture
def tight_app(database):
    """The app with a default limit of 3 requests a minute."""
    from dataclasses import replace

    from web import create_app

    return create_app(replace(get_settings(), rate_limit_default="3/minute"))


def test_a_caller_gets_its_limit_with_headers_then_429_with_retry_after(tight_app, db_session, auth_headers):
    client, headers = _client(tight_app), auth_headers(Role.ADMIN)
    answers = [client.get("/api/auth/me", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    reset = int(answers[0].headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    refused = answers[-1]
    assert refused.json["success"] is False and refused.json["error"]["type"] == "RATE_LIMIT"
    assert 0 < int(refused.headers["Retry-After"]) <= 60

    # the same address with another caller's token is counted apart from the first caller
    assert client.get("/api/auth/me", headers=auth_headers(Role.ADMIN)).status_code == 200


def test_anonymous_requests_count_per_address(tight_app, db_session):
    first, second = _client(tight_app), _client(tight_app)
    assert [first.get("/healthz").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get("/healthz").status_code == 200


def test_login_counts_against_its_own_limit_not_the_default(client, make_user):
    email = make_user().email
    answers = [client.post("/api/auth/login", json={"email": email, "password": "wrong password"})
               for _ in range(2)]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {str(parse_rate(get_settings().rate_limit_login)[0])}


@pytest.mark.parametrize("rate", ["", "1200", "0/minute", "-1/minute", "ten/minute", "5/fortnight", "5/"])
def test_a_malformed_rate_stops_start_up_and_names_the_variable(rate):
    with pytest.raises(SettingsError, match="RATE_LIMIT_DEFAULT"):
        load_settings({}, rate_limit_default=rate)


def test_rates_parse_into_count_and_window():
    assert parse_rate("1200/minute") == (1200, 60)
    assert parse_rate(" 5 / Second ") == (5, 1)
    assert parse_rate("100/day") == (100, 86400)


def test_requests_go_through_when_the_limiter_cannot_reach_redis(database, db_session, auth_headers):
    """The limiter protects the service; it must not take it down with Redis."""
    from dataclasses import replace

    from web import create_app

    app = create_app(replace(get_settings(), redis_url="redis://127.0.0.1:1/0"))
    answer = _client(app).get("/api/auth/me", headers=auth_headers(Role.ADMIN))
    assert answer.status_code == 200 and answer.json["success"] is True
    assert "X-RateLimit-Limit" not in answer.headers
