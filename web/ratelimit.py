"""Fixed-window rate limits kept in Redis: one round trip per request.

Every request counts against RATE_LIMIT_DEFAULT, per caller when it carries a valid access token
and per IP address otherwise; a view decorated with `rate_limited(...)` counts against its own
limit instead (login: RATE_LIMIT_LOGIN per IP). Answers carry X-RateLimit-Limit, -Remaining and
-Reset; a refusal is the 429 envelope with Retry-After. When Redis cannot be reached the request
is let through (and logged): the limiter protects the service, it must not take it down.

The same round trip reads the caller's cached principal (web.auth.load_principal), so an
authenticated request costs one Redis call before its view instead of two.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import redis
from flask import Flask, current_app, g, request

from core.errors import GatewayError
from core.redis import Keys, get_redis
from core.settings import parse_rate
from models.enums import ErrorType
from web.auth import bearer_identity, prefetch_principal

log = logging.getLogger(__name__)

# INCR, start the window on the first hit, and say how long it has left: atomic, one round trip.
# With KEYS[2] and KEYS[3] (a caller's principal entry and its generation) it returns them too.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if #KEYS == 1 then return {count, ttl} end
return {count, ttl, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""


@dataclass(frozen=True)
class Limit:
    rate: Callable[[], str]  # read per request, from the settings
    key: Callable[[], str]
    scope: str


def caller_key() -> str:
    """The subject of the request's valid access token, else its IP address."""
    return bearer_identity() or f"ip:{request.remote_addr}"


DEFAULT = Limit(lambda: current_app.config["SETTINGS"].rate_limit_default, caller_key, "default")


def rate_limited(rate: Callable[[], str], key: Callable[[], str], scope: str):
    """Count this view's requests against `rate` per `key()` instead of the default limit."""

    def decorator(view):
        view._rate_limit = Limit(rate, key, scope)
        return view

    return decorator


@lru_cache(maxsize=4)
def _hit_script(client: redis.Redis):
    return client.register_script(_HIT)


def _check():
    view = current_app.view_functions.get(request.endpoint)
    if view is None:  # 404 and 405 answers are not worth a Redis round trip
        return
    limit: Limit = getattr(view, "_rate_limit", DEFAULT)
    allowed, window = parse_rate(limit.rate())
    keys = [Keys.rate_limit(limit.scope, limit.key(), window)]
    identity = bearer_identity()
    if identity:
        keys += [Keys.principal(identity), Keys.principal_generation(identity)]
    try:
        count, ttl, *principal = _hit_script(get_redis())(keys=keys, args=[window])
    except redis.RedisError:
        log.warning("rate limiter unavailable (Redis); %s %s let through", request.method, request.path)
        return
    if identity:
        prefetch_principal(identity, *principal)
    reset_in = ttl if ttl > 0 else window
    headers = g.rate_limit_headers = {"X-RateLimit-Limit": str(allowed),
                                      "X-RateLimit-Remaining": str(max(0, allowed - count)),
                                      "X-RateLimit-Reset": str(int(time.time()) + reset_in)}
    if count > allowed:
        headers["Retry-After"] = str(reset_in)
        raise GatewayError(429, f"rate limit exceeded: {allowed} per {window} s; retry in {reset_in} s",
                           ErrorType.RATE_LIMIT)


def _add_headers(response):
    response.headers.extend(g.get("rate_limit_headers", {}))
    return response


def init_rate_limits(app: Flask) -> None:
    app.before_request(_check)
    app.after_request(_add_headers)
