"""Rate limits with flask-limiter on Redis (fixed windows).

Every request counts against RATE_LIMIT_DEFAULT, per caller when it carries a valid access token
and per IP address otherwise; a view marked with `rate_limited(...)` counts against its own limit
instead (login: RATE_LIMIT_LOGIN per IP). Answers carry X-RateLimit-Limit, -Remaining and -Reset;
a refusal is the 429 envelope with Retry-After. When Redis cannot be reached the request is let
through (and logged): the limiter protects the service, it must not take it down.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded

from core.errors import GatewayError
from core.settings import Settings, parse_rate
from models.enums import ErrorType
from web.auth import bearer_identity


@dataclass(frozen=True)
class RouteLimit:
    rate: Callable[[Settings], str]
    key: Callable[[], str]


def caller_key() -> str:
    """The subject of the request's valid access token, else its IP address."""
    return bearer_identity() or f"ip:{request.remote_addr}"


def address_key() -> str:
    return f"ip:{request.remote_addr}"


def rate_limited(rate: Callable[[Settings], str], key: Callable[[], str] = address_key):
    """Count this view's requests against `rate(settings)` per `key()` instead of the default limit."""

    def decorator(view):
        view._rate_limit = RouteLimit(rate, key)
        return view

    return decorator


def _limit_text(rate: str) -> str:
    """Our "1200/minute" settings (validated by parse_rate) in the notation of `limits`."""
    count, window = parse_rate(rate)
    return f"{count}/{window} seconds"


def _refusal(error: RateLimitExceeded):
    from web.errors import envelope_response

    limit = error.limit.limit
    window = limit.get_expiry()
    return envelope_response(GatewayError(429, f"rate limit exceeded: {limit.amount} per {window} s",
                                          ErrorType.RATE_LIMIT))


def init_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """One limiter per app, on the app's Redis. Call once every view is registered: the views
    marked with `rate_limited` are wrapped with their own limit here."""
    limiter = Limiter(
        caller_key, app=app, storage_uri=settings.redis_url, strategy="fixed-window", key_prefix="ratelimit",
        default_limits=[_limit_text(settings.rate_limit_default)], headers_enabled=True, swallow_errors=True,
        storage_options={"socket_timeout": 1, "socket_connect_timeout": 1},
    )
    for endpoint, view in list(app.view_functions.items()):
        route_limit: RouteLimit | None = getattr(view, "_rate_limit", None)
        if route_limit is not None:
            app.view_functions[endpoint] = limiter.limit(_limit_text(route_limit.rate(settings)),
                                                         key_func=route_limit.key)(view)
    app.register_error_handler(RateLimitExceeded, _refusal)
    return limiter
