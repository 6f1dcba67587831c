"""Flask extensions, created unbound and initialised in create_app."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import JWTManager, get_jwt_identity
from flask_limiter import Limiter


def rate_limit_key() -> str:
    """Limit per caller when the request carries a valid token, per IP address otherwise.

    The verification is the one the view relies on (web.auth.verify_access_token caches it for
    the request), so a token is decoded and its principal looked up once per request."""
    from web.auth import verify_access_token

    try:
        identity = get_jwt_identity() if verify_access_token(optional=True) else None
    except Exception:  # an invalid token is answered 401 by the view; here it just counts per IP
        identity = None
    return identity or f"ip:{request.remote_addr}"


jwt = JWTManager()
limiter = Limiter(key_func=rate_limit_key)
