"""Flask extensions, created unbound and initialised in create_app."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import JWTManager, get_jwt_identity, verify_jwt_in_request
from flask_limiter import Limiter


def rate_limit_key() -> str:
    """Limit per caller when the request carries a valid token, per IP address otherwise."""
    try:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # an invalid token is answered 401 by the view; here it just counts per IP
        identity = None
    return identity or f"ip:{request.remote_addr}"


jwt = JWTManager()
limiter = Limiter(key_func=rate_limit_key)
